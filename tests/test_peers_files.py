"""The registry's files: debounced saves, atomic durable writes, damaged files, restarts."""

import json
import os
import threading

from hypothesis import given, settings, strategies as st
from twisted.internet import defer, reactor, task
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import LogLevel, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase, TestCase

from lethean.peers import AuthMode, Peer, PeerRegistry
from lethean.peers._record import encode_peers
from lethean.peers._files import write_atomic
from lethean.peers import _files, _saved
from lethean.peers._files import SerialFile

from tests.test_peers import ID_A, ID_B, KEY_A, KEY_B, START_S, MemoryWriter, peer_for


def read(path):
    with open(path, "rb") as f:
        return f.read()


class FileTestCase(SynchronousTestCase):
    """A directory per test, a task.Clock, and registries that write synchronously."""

    def setUp(self):
        self.directory = self.mktemp()
        os.makedirs(self.directory)
        self.path = os.path.join(self.directory, "peers.json")
        self.clock = task.Clock()
        self.clock.advance(START_S)
        self.events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

    def open(self, **kwargs):
        return PeerRegistry(self.clock, self.path, **kwargs)

    def write(self, data, suffix=""):
        with open(self.path + suffix, "wb") as f:
            f.write(data)

    def warnings(self):
        return [e for e in self.events if e["log_level"] in (LogLevel.warn, LogLevel.error)]

    def aside(self):
        return sorted(n for n in os.listdir(self.directory) if ".corrupt-" in n)


class DebounceTests(FileTestCase):
    """peers.json is written 5 s after the first unsaved change, once."""

    def setUp(self):
        super().setUp()
        self.writer = MemoryWriter()
        self.registry = self.open(writer=self.writer)

    def test_write_waits_for_the_timer(self):
        """Nothing is written until 5 s after the first change."""
        self.registry.add_peer(peer_for(1))
        self.clock.advance(4.9)
        self.assertEqual(self.writer.writes, [])
        self.clock.advance(0.1)
        self.assertEqual(self.writer.writes, [self.path])

    def test_changes_in_the_window_coalesce(self):
        """Many changes inside the window make one write with the final state."""
        peer = self.registry.add_peer(peer_for(1))
        for _ in range(3):
            self.clock.advance(1)
            self.registry.record_success(peer.id)
        self.clock.advance(2)
        self.assertEqual(self.writer.writes, [self.path])
        [saved] = json.loads(self.writer.files[self.path])
        self.assertEqual(saved["score"], 53)

    def test_later_change_starts_a_new_window(self):
        """A change after a write is saved by a new timer."""
        peer = self.registry.add_peer(peer_for(1))
        self.clock.advance(5)
        self.registry.record_failure(peer.id)
        self.clock.advance(5)
        self.assertEqual(self.writer.writes, [self.path, self.path])

    def test_close_writes_now_and_cancels_the_timer(self):
        """close() writes pending changes at once and leaves no timer behind."""
        self.registry.add_peer(peer_for(1))
        self.successResultOf(self.registry.close())
        self.assertEqual(self.writer.writes, [self.path])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_flush_without_changes_writes_nothing(self):
        """A clean registry has nothing to write."""
        self.successResultOf(self.registry.flush())
        self.assertEqual(self.writer.writes, [])

    def test_failed_save_is_logged_and_retried_on_flush(self):
        """A failing write is logged, the change stays pending, and flush reports the error."""
        attempts = []

        def broken(path, content):
            attempts.append(path)
            raise OSError("disk full")

        registry = PeerRegistry(self.clock, self.path + "2", writer=broken)
        registry.add_peer(peer_for(1))
        self.clock.advance(5)
        [event] = self.warnings()
        self.assertEqual(event["error"], "disk full")
        self.failureResultOf(registry.flush(), OSError)
        self.assertEqual(len(attempts), 2)


class SerialFileTests(SynchronousTestCase):
    """One write in flight per file; requests made meanwhile share the next write."""

    def setUp(self):
        self.started = []

        def writer(path, content):
            self.started.append((content(), defer.Deferred()))
            return self.started[-1][1]

        self.file = SerialFile("f", writer)

    def test_requests_during_a_write_coalesce(self):
        """Three saves during a write lead to exactly one more write, of the newest content."""
        first = self.file.save(lambda: b"1")
        later = [self.file.save(lambda n=n: n) for n in (b"2", b"3", b"4")]
        self.assertEqual(len(self.started), 1)
        self.started[0][1].callback(None)
        self.successResultOf(first)
        self.assertEqual([data for data, _ in self.started], [b"1", b"4"])
        self.assertNoResult(later[0])
        self.started[1][1].callback(None)
        for d in later:
            self.successResultOf(d)

    def test_idle_waits_for_the_queue(self):
        """idle() fires only when nothing is in flight or queued, and never fails."""
        self.file.save(lambda: b"1").addErrback(lambda f: None)
        idle = self.file.idle()
        self.assertNoResult(idle)
        self.started[0][1].errback(OSError("x"))
        self.successResultOf(idle)
        self.successResultOf(self.file.idle())


class PersistenceTests(FileTestCase):
    """What one registry saves, the next one on the same directory reads."""

    def test_restart_sees_the_peers(self):
        """Peers, metrics and scores survive a restart."""
        registry = self.open()
        a = registry.add_peer(Peer(id=ID_A, name="alpha", public_key=KEY_A, address="10.0.0.1:9091"))
        registry.add_peer(Peer(id=ID_B, name="bravo", public_key=KEY_B))
        registry.update_metrics(ID_B, ping_ms=12.25, geo_km=100, hops=3)
        registry.record_failure(ID_A)
        self.successResultOf(registry.close())
        again = self.open()
        self.assertEqual(again.list_peers(), registry.list_peers())
        self.assertEqual(again.get_peer(ID_A).score, a.score - 5)

    def test_empty_registry_is_null(self):
        """An emptied registry is written as the literal null, like Go."""
        registry = self.open()
        registry.add_peer(peer_for(1))
        registry.remove_peer(peer_for(1).id)
        self.successResultOf(registry.close())
        self.assertEqual(read(self.path), b"null")
        self.assertEqual(len(self.open()), 0)

    def test_reference_file_is_read(self):
        """A file in the reference's exact format (spec example) loads."""
        self.write(b'[\n  {\n    "id": "bc841db8fea3efd84555a7f8eeb92503",\n    "name": "bravo",\n'
                   b'    "publicKey": "ZLEBsdC+WocEvQePmJUAH8A+jp+VIvGI3RKNmEbUhGY=",\n'
                   b'    "address": "10.0.0.2:9091",\n    "role": "worker",\n'
                   b'    "addedAt": "2026-01-02T03:04:05.12Z",\n    "lastSeen": "0001-01-01T00:00:00Z",\n'
                   b'    "pingMs": 0,\n    "hops": 0,\n    "geoKm": 0,\n    "score": 50\n  }\n]')
        original = read(self.path)
        registry = self.open()
        self.assertEqual(registry.get_peer(ID_B).address, "10.0.0.2:9091")
        registry.update_peer(registry.get_peer(ID_B))
        self.successResultOf(registry.close())
        self.assertEqual(read(self.path), original)
        self.assertEqual(self.aside(), [])

    def test_directory_is_created(self):
        """A missing parent directory is created."""
        self.path = os.path.join(self.directory, "a", "b", "peers.json")
        registry = self.open()
        registry.add_peer(peer_for(1))
        self.successResultOf(registry.close())
        self.assertEqual(len(self.open()), 1)

    def test_file_mode(self):
        """peers.json gets mode 0644 (less the umask), like the reference."""
        registry = self.open()
        registry.add_peer(peer_for(1))
        self.successResultOf(registry.close())
        umask = os.umask(0)
        os.umask(umask)
        self.assertEqual(os.stat(self.path).st_mode & 0o777, 0o644 & ~umask)

    def test_allowlist_written_at_once_and_sorted(self):
        """Allowlist changes hit the sidecar without waiting, sorted, in Go's layout."""
        registry = self.open()
        registry.allow_public_key(KEY_B)
        registry.allow_public_key(KEY_A)
        self.assertEqual(read(self.path + ".allowlist.json"),
                         ('[\n  "%s",\n  "%s"\n]' % (KEY_A, KEY_B)).encode())
        registry.revoke_public_key(KEY_A)
        registry.revoke_public_key(KEY_B)
        self.assertEqual(read(self.path + ".allowlist.json"), b"[]")

    def test_allowlist_survives_restart(self):
        """The allowlist is read back; empty strings in it are skipped."""
        self.write(('["", "%s"]' % KEY_A).encode(), ".allowlist.json")
        registry = self.open()
        self.assertEqual(registry.allowed_public_keys(), [KEY_A])
        registry.allow_public_key(KEY_B)
        self.assertEqual(self.open().allowed_public_keys(), sorted([KEY_A, KEY_B]))

    def test_auth_mode_survives_restart(self):
        """The auth mode is kept in peers.json.auth.json (the reference forgets it)."""
        self.assertEqual(self.open().auth_mode, AuthMode.OPEN)
        self.open().set_auth_mode(AuthMode.ALLOWLIST)
        self.assertEqual(read(self.path + ".auth.json"), b'{\n  "mode": "allowlist"\n}')
        self.assertEqual(self.open().auth_mode, AuthMode.ALLOWLIST)
        self.open().set_auth_mode(AuthMode.OPEN)
        self.assertEqual(self.open().auth_mode, AuthMode.OPEN)

    def test_auth_mode_file_leaves_reference_files_alone(self):
        """Persisting the mode changes neither peers.json nor the allowlist file."""
        self.open().set_auth_mode(AuthMode.ALLOWLIST)
        self.assertEqual(sorted(os.listdir(self.directory)), ["peers.json.auth.json"])


class DamagedFileTests(FileTestCase):
    """Damaged files are moved aside with a warning; what parses is kept."""

    def peers_file(self, count):
        return encode_peers([peer_for(n) for n in range(count)])

    def test_truncated_file_keeps_whole_entries(self):
        """A torn peers.json yields the entries before the tear and is moved aside."""
        data = self.peers_file(3)
        cut = data[: data.rindex(b"{") + 20]
        self.write(cut)
        registry = self.open()
        self.assertEqual(registry.list_peers(), [peer_for(0), peer_for(1)])
        [name] = self.aside()
        self.assertEqual(name, "peers.json.corrupt-20260102T030405Z")
        self.assertEqual(read(os.path.join(self.directory, name)), cut)
        [event] = self.warnings()
        self.assertEqual((event["path"], event["kept"]), (self.path, 2))
        self.assertEqual(event["moved_to"], os.path.join(self.directory, name))
        self.assertIn("element 2", event["reason"])

    def test_survivors_are_saved(self):
        """After the move, the surviving entries are written back by the normal timer."""
        data = self.peers_file(2)
        self.write(data[:-30])
        self.open()
        self.assertFalse(os.path.exists(self.path))
        self.clock.advance(5)
        self.assertEqual(PeerRegistry(self.clock, self.path).list_peers(), [peer_for(0)])

    def test_garbage_file(self):
        """A file that is not JSON at all leaves an empty registry, moved aside, logged."""
        self.write(b"\x00\xffnot json")
        registry = self.open()
        self.assertEqual(len(registry), 0)
        self.assertEqual(len(self.aside()), 1)
        self.assertEqual(len(self.warnings()), 1)

    def test_bad_element_is_skipped(self):
        """An element with a wrong type is dropped, the others kept, the file moved aside."""
        self.write(('[{"id": "a", "hops": 1.5}, {"id": "%s"}, 7]' % ID_A).encode())
        registry = self.open()
        self.assertEqual([p.id for p in registry.list_peers()], [ID_A])
        self.assertEqual(len(self.aside()), 1)

    def test_two_damaged_files_in_one_second(self):
        """A second damaged copy in the same second gets a numbered name."""
        for _ in range(2):
            self.write(b"[{")
            self.open()
        self.assertEqual(self.aside(), ["peers.json.corrupt-20260102T030405Z",
                                        "peers.json.corrupt-20260102T030405Z.1"])

    def test_unmovable_damaged_file_is_never_overwritten(self):
        """If the damaged file cannot be moved aside, saves are refused and it stays."""
        def cannot(path, now_s):
            raise PermissionError("read-only directory")

        self.patch(_saved, "move_aside", cannot)
        self.write(b"[{")
        registry = self.open()
        registry.add_peer(peer_for(1))
        self.failureResultOf(registry.flush(), OSError)
        self.assertEqual(read(self.path), b"[{")
        self.assertEqual(self.warnings()[0]["log_level"], LogLevel.error)

    def test_damaged_allowlist(self):
        """A torn allowlist keeps its readable keys and is rewritten after the move."""
        self.write(('["%s", "%s' % (KEY_A, KEY_B)).encode(), ".allowlist.json")
        registry = self.open()
        self.assertEqual(registry.allowed_public_keys(), [KEY_A])
        self.assertEqual(len(self.aside()), 1)
        self.assertEqual(read(self.path + ".allowlist.json"), ('[\n  "%s"\n]' % KEY_A).encode())

    def test_damaged_auth_mode_fails_closed(self):
        """An unreadable auth-mode file means allowlist mode, saved, and a warning."""
        self.write(b'{"mode": "wide open"}', ".auth.json")
        registry = self.open()
        self.assertEqual(registry.auth_mode, AuthMode.ALLOWLIST)
        self.assertEqual(len(self.aside()), 1)
        self.assertEqual(self.open().auth_mode, AuthMode.ALLOWLIST)
        self.assertTrue(self.warnings())


    @settings(max_examples=60, deadline=None)
    @given(st.binary(max_size=120), st.binary(max_size=60), st.binary(max_size=40))
    def test_any_file_content_starts(self, peers_data, allowlist_data, auth_data):
        """Whatever the three files hold, the registry starts, and damaged ones are set aside."""
        self.directory = self.mktemp()
        os.makedirs(self.directory)
        self.path = os.path.join(self.directory, "peers.json")
        self.write(peers_data)
        self.write(allowlist_data, ".allowlist.json")
        self.write(auth_data, ".auth.json")
        registry = self.open()
        self.assertIn(registry.auth_mode, list(AuthMode))
        self.successResultOf(registry.close())
        for name in ("peers.json", "peers.json.allowlist.json", "peers.json.auth.json"):
            self.assertTrue(os.path.exists(os.path.join(self.directory, name)), name)


class AtomicWriteTests(SynchronousTestCase):
    """The final path only ever holds a complete file."""

    def setUp(self):
        self.directory = self.mktemp()
        os.makedirs(self.directory)
        self.path = os.path.join(self.directory, "peers.json")
        write_atomic(self.path, b"old")

    def test_failed_write_leaves_old_file_and_no_temp(self):
        """A write that dies half way changes nothing and cleans up its temp file."""
        real_write = os.write

        def half(fd, data):
            real_write(fd, bytes(data[: len(data) // 2]))
            raise OSError("device gone")

        self.patch(_files.os, "write", half)
        self.assertRaises(OSError, write_atomic, self.path, b"new content")
        self.assertEqual(read(self.path), b"old")
        self.assertEqual(os.listdir(self.directory), ["peers.json"])

    def test_rename_happens_after_complete_synced_write(self):
        """When the temp file is renamed into place it is complete and fsynced."""
        seen = []
        real_fsync, real_replace = os.fsync, os.replace

        def fsync(fd):
            seen.append("fsync")
            real_fsync(fd)

        def replace(src, dst):
            seen.append(("replace", read(src), read(dst)))
            real_replace(src, dst)

        self.patch(_files.os, "fsync", fsync)
        self.patch(_files.os, "replace", replace)
        write_atomic(self.path, b"new content")
        self.assertEqual(seen, ["fsync", ("replace", b"new content", b"old"), "fsync"])
        self.assertEqual(read(self.path), b"new content")


class ThreadedWriterTests(TestCase):
    """On a real reactor the disk work runs in the thread pool."""

    async def test_flush_through_threads(self):
        """A registry on the real reactor writes via its thread pool and flush waits for it."""
        path = os.path.join(self.mktemp(), "peers.json")
        threads = []
        real = _files.write_now

        def spy(p, content):
            threads.append(threading.current_thread())
            real(p, content)

        self.patch(_files, "write_now", spy)
        registry = PeerRegistry(reactor, path)
        registry.add_peer(peer_for(1))
        await registry.close()
        self.assertNotIn(threading.main_thread(), threads)
        self.assertEqual(PeerRegistry(reactor, path).list_peers(), registry.list_peers())


class OverlayTests(FileTestCase):
    """OverlayRegistry: another registry's peers, used and never written back."""

    def test_borrowed_peers_are_used_and_never_written(self):
        """Borrowed records resolve and pin keys; only the own records are saved."""
        from lethean.peers import OverlayRegistry

        borrowed_path = os.path.join(self.directory, "node-peers.json")
        node = PeerRegistry(self.clock, borrowed_path)
        node.add_peer(Peer(id=ID_A, name="alpha", public_key=KEY_A, address="10.0.0.1:9091"))
        node.close()
        before = read(borrowed_path)
        overlay = OverlayRegistry(self.clock, self.path, borrowed_path)
        self.assertEqual(overlay.known_key(ID_A), KEY_A)
        self.assertTrue(overlay.is_borrowed(ID_A))
        overlay.add_peer(Peer(id=ID_B, name="bravo", public_key=KEY_B, address="10.0.0.2:9091"))
        overlay.update_peer(overlay.get_peer(ID_A).evolve(address="10.0.0.9:9091"))
        overlay.set_connected(ID_A, True)
        overlay.close()
        self.assertEqual(read(borrowed_path), before)
        self.assertEqual([p["id"] for p in json.loads(read(self.path))], [ID_B])
        # Forgotten, a borrowed id is the overlay's own if it comes back.
        overlay.remove_peer(ID_A)
        overlay.add_peer(Peer(id=ID_A, name="alpha", public_key=KEY_A))
        overlay.close()
        self.assertEqual(sorted(p["id"] for p in json.loads(read(self.path))),
                         sorted([ID_A, ID_B]))
