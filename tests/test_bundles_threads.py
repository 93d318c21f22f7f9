"""The bundles' *_in_thread twins: the reactor's pool, the same results and errors."""

import io
import os
import threading

from twisted.internet import reactor
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase

from lethean.bundles import (
    Bundle,
    PasswordRequiredError,
    create_miner_bundle,
    create_miner_bundle_in_thread,
    create_profile_bundle,
    create_profile_bundle_in_thread,
    extract_miner_bundle_in_thread,
    extract_profile_bundle_in_thread,
    install_miner_bundle_in_thread,
)
from lethean.bundles._tar import EMPTY_TAR, write_tar
from lethean.bundles._threads import IN_THREAD, in_thread, read_miner_in_thread
from lethean.bundles._bundle import checksum_of
import lethean.bundles
from lethean.bundles import _threads
from lethean.errors import LetheanError
from tests._bundles_miner import ELF, NONCES, outcome


class ThreadWrapperTests(TestCase):
    """The *_in_thread wrappers run in the reactor's pool and return Deferreds."""

    async def test_profile_round_trip(self):
        """Create and extract a profile off the reactor thread."""
        bundle = await create_profile_bundle_in_thread(reactor, b'{"a":1}', "p", "pw")
        self.assertEqual(await extract_profile_bundle_in_thread(reactor, bundle, "pw"),
                         b'{"a":1}')

    async def test_miner_round_trip(self):
        """Read, create, extract and install a miner off the reactor thread."""
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write(ELF)
        miner_name, content = await read_miner_in_thread(reactor, path)
        bundle = await create_miner_bundle_in_thread(reactor, miner_name, content, "m", "pw")
        result = await extract_miner_bundle_in_thread(
            reactor, bundle, "pw", os.path.abspath(self.mktemp()))
        self.assertTrue(os.access(result.miner_path, os.X_OK))
        installed = await install_miner_bundle_in_thread(
            reactor, bundle, "pw", os.path.abspath(self.mktemp()))
        self.assertEqual(os.path.basename(installed.root), "m")

    async def test_errors_arrive_as_failures(self):
        """An extraction error fails the Deferred with our error."""
        bundle = Bundle.seal("miner", "m", b"not a stim")
        with self.assertRaises(PasswordRequiredError):
            await extract_miner_bundle_in_thread(reactor, bundle, "", self.mktemp())

class _Pool:
    """A thread pool that records what it is given and runs it at once."""

    def __init__(self):
        self.ran = []

    def callInThreadWithCallback(self, on_result, function, *args, **kwargs):
        self.ran.append(function)
        try:
            result = function(*args, **kwargs)
        except BaseException:
            on_result(False, Failure())
        else:
            on_result(True, result)


class _PoolReactor:
    """Just enough reactor for deferToThreadPool."""

    def __init__(self):
        self.pool = _Pool()

    def getThreadPool(self):
        return self.pool

    def callFromThread(self, function, *args, **kwargs):
        function(*args, **kwargs)


def _comparable(value):
    """A result with the destination folder taken out (each call extracts elsewhere)."""
    root = getattr(value, "root", None)
    if root is None:
        return value
    executable = getattr(value, "executable", getattr(value, "miner_path", None))
    return (type(value), value.files, executable and os.path.relpath(executable, root),
            getattr(value, "config", None))


class DeferredAPITests(SynchronousTestCase):
    """Every *_in_thread twin runs its function in the reactor's pool, same result, same error."""

    def setUp(self):
        self.miner = self.mktemp()
        with open(self.miner, "wb") as f:
            f.write(ELF)
        self.bundle = create_miner_bundle("xmrig", ELF, "m", "pw", mtime=0, **NONCES)
        self.profile = create_profile_bundle(b'{"a":1}', "p", "pw", **NONCES)
        self.rootfs = write_tar([("xmrig", ELF)], mtime=0)

    def folder(self):
        return os.path.abspath(self.mktemp())

    def calls(self):
        """name -> (good arguments, bad arguments), each a fresh (args, kwargs)."""
        return {
            "checksum_of": (((b"abc",), {}), ((None,), {})),
            "create_profile_bundle": (((b'{"a":1}', "p", "pw"), NONCES),
                                      ((b'{"a":1}', "p", ""), {})),
            "create_miner_bundle": ((("xmrig", ELF, "m", "pw"), dict(mtime=0, **NONCES)),
                                    (("xmrig", ELF, "../m", "pw"), {})),
            "create_miner_bundle_from_file": (((self.miner, "m", "pw"), dict(mtime=0, **NONCES)),
                                              ((self.miner + ".missing", "m", "pw"), {})),
            "read_miner": (((self.miner,), {}), ((self.miner, ), {"max_bytes": 3})),
            "read_bundle": (((io.BytesIO(self.bundle.to_json()),), {}),
                            ((io.BytesIO(b"{}"),), {})),
            "write_bundle": (((self.bundle, io.BytesIO()), {}), ((self.bundle, None), {})),
            "seal_stim": (((b"{}", EMPTY_TAR, "pw"), NONCES), ((b"{}", EMPTY_TAR, ""), {})),
            "open_stim": (((self.bundle.data, "pw"), {}), ((self.bundle.data, "no"), {})),
            "scan_tar": (((self.rootfs,), {}), ((self.rootfs[:600],), {})),
            "inspect_bundle": (((self.bundle, "pw"), {}), ((self.bundle, "no"), {})),
            "extract_profile_bundle": (((self.profile, "pw"), {}), ((self.profile, "no"), {})),
            "extract_miner_bundle": (((self.bundle, "pw", self.folder()), {}),
                                     ((self.bundle, "no", self.folder()), {})),
            "install_miner_bundle": (((self.bundle, "pw", self.folder()), {}),
                                     ((self.bundle, "no", self.folder()), {})),
            "extract_tar": (((self.rootfs, self.folder()), {}),
                            ((self.rootfs[:600], self.folder()), {})),
        }

    def test_every_twin_is_covered(self):
        """The table below covers every twin, and a twin is exported with its function."""
        self.assertEqual(set(IN_THREAD), set(self.calls()))
        for name, twin in IN_THREAD.items():
            self.assertIs(getattr(_threads, name + "_in_thread"), twin)
            exported = name in lethean.bundles.__all__
            self.assertEqual(name + "_in_thread" in lethean.bundles.__all__, exported, name)
            if exported:
                self.assertIs(getattr(lethean.bundles, name + "_in_thread"), twin)
                self.assertIs(twin.synchronous, getattr(lethean.bundles, name))

    def test_same_results(self):
        """Each twin runs its function in the pool and fires with its result."""
        for name, twin in IN_THREAD.items():
            fake = _PoolReactor()
            (args, kwargs), _ = self.calls()[name]
            result = self.successResultOf(twin(fake, *args, **kwargs))
            self.assertEqual(fake.pool.ran, [twin.synchronous], name)
            (args, kwargs), _ = self.calls()[name]
            self.assertEqual(_comparable(result), _comparable(twin.synchronous(*args, **kwargs)),
                             name)

    def test_same_errors(self):
        """Each twin fails with its function's error, type and words."""
        for name, twin in IN_THREAD.items():
            fake = _PoolReactor()
            _, (args, kwargs) = self.calls()[name]
            failure = self.failureResultOf(twin(fake, *args, **kwargs))
            self.assertEqual(fake.pool.ran, [twin.synchronous], name)
            _, (args, kwargs) = self.calls()[name]
            expected = outcome(twin.synchronous, *args, **kwargs)
            self.assertEqual((failure.type, str(failure.value)), expected, name)
            if name not in ("checksum_of", "write_bundle"):
                self.assertTrue(issubclass(failure.type, LetheanError), name)


class RealThreadTests(TestCase):
    """With the real reactor the work happens off the reactor thread."""

    async def test_not_in_the_reactor_thread(self):
        """A twin's function runs in another thread; the Deferred fires back here."""
        seen = []
        original = IN_THREAD["checksum_of"].synchronous

        def spy(data):
            seen.append(threading.get_ident())
            return original(data)
        result = await in_thread(reactor, spy, b"abc")
        self.assertEqual(result, checksum_of(b"abc"))
        self.assertNotEqual(seen, [threading.get_ident()])
        self.assertEqual(len(seen), 1)
