from twisted.application.service import ServiceMaker

lethean_node = ServiceMaker(
    "Lethean mesh node",
    "lethean.node.tap",
    "An encrypted WebSocket mesh node: transport, peer registry, worker, "
    "controller and UEPS dispatcher.",
    "lethean-node",
)
