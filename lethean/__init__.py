"""
lethean: the Lethean P2P mesh layer for Twisted.

One small package per layer: :mod:`lethean.ueps`, :mod:`lethean.levin`,
:mod:`lethean.identity`, :mod:`lethean.mesh`, :mod:`lethean.peers`,
:mod:`lethean.bundles`, :mod:`lethean.node`; :mod:`lethean.errors` holds the
root of every exception the package raises.
"""

__version__ = "0.1.0.dev0"

__all__ = ["__version__"]
