"""Safe extraction: every hostile archive is refused and leaves nothing behind."""

import io
import os
import stat
import tarfile

from hypothesis import given, settings, strategies as st
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import LogLevel, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from lethean.bundles import (
    AbsolutePathError,
    ArchiveTooLargeError,
    Bundle,
    CorruptArchiveError,
    DeviceMemberError,
    DuplicateMemberError,
    ExtractLimits,
    FifoMemberError,
    HardlinkMemberError,
    InvalidBundleNameError,
    MemberTooLargeError,
    PathEscapeError,
    PathTraversalError,
    SpecialMemberError,
    SymlinkMemberError,
    TooManyMembersError,
    UnsafeArchiveError,
    UnsafeDestinationError,
    extract_miner_bundle,
    install_miner_bundle,
    validate_bundle_name,
)
from lethean.bundles._stim import DEFAULT_TIM_CONFIG, seal_stim
from lethean.bundles._tar import ArchiveMember, scan_tar, write_tar
from lethean.bundles._extract import extract_tar
from lethean.bundles._names import install_dir
from lethean.bundles import _extract
from lethean.errors import LetheanError, LimitExceededError


def member(name, type=tarfile.REGTYPE, data=None, size=None, linkname="", mode=0o644, **extra):
    """A ``(TarInfo, content)`` pair; ``size`` may lie about the content."""
    info = tarfile.TarInfo(name)
    info.type = type
    info.mode = mode
    info.linkname = linkname
    info.size = len(data or b"") if size is None else size
    for key, value in extra.items():
        setattr(info, key, value)
    return info, data


def tar_of(*members, format=tarfile.GNU_FORMAT):
    """A tar archive of ``members``, written by tarfile without any checks."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=format) as archive:
        for info, data in members:
            archive.addfile(info, None if data is None else io.BytesIO(data))
    return out.getvalue()


def header_only(name, size):
    """A single header declaring ``size`` bytes of content that are not there."""
    info = tarfile.TarInfo(name)
    info.size = size
    return info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")


class HostileArchiveMixin:
    """Run a hostile archive through extraction and check that nothing is left."""

    def setUp(self):
        self.sandbox = os.path.abspath(self.mktemp())
        self.parent = os.path.join(self.sandbox, "miners")
        self.outside = os.path.join(self.sandbox, "outside")
        os.makedirs(self.parent)
        os.makedirs(self.outside)
        with open(os.path.join(self.outside, "target"), "wb") as f:
            f.write(b"original")
        self.dest = os.path.join(self.parent, "xmrig")
        self.events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

    def snapshot(self):
        """Every path under the sandbox, with file contents."""
        found = {}
        for folder, dirnames, filenames in os.walk(self.sandbox):
            for name in dirnames + filenames:
                path = os.path.join(folder, name)
                if os.path.isfile(path) and not os.path.islink(path):
                    with open(path, "rb") as f:
                        found[path] = f.read()
                else:
                    found[path] = os.readlink(path) if os.path.islink(path) else None
        return found

    def assertRefused(self, error_class, data, limits=ExtractLimits(), **kwargs):
        """Extraction raises exactly ``error_class``, logs once and changes nothing."""
        before = self.snapshot()
        error = self.assertRaises(
            error_class, extract_tar, data, self.dest, limits=limits, **kwargs)
        self.assertIs(type(error), error_class)
        self.assertIsInstance(error, UnsafeArchiveError)
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(len(self.events), 1)
        self.assertEqual(self.events[0]["log_level"], LogLevel.warn)
        self.assertEqual(self.events[0]["kind"], error_class.kind)
        return error


class HostileMemberTests(HostileArchiveMixin, SynchronousTestCase):
    """One test per kind of hostile member."""

    def test_absolute_path(self):
        """A member at an absolute path is refused."""
        self.assertRefused(AbsolutePathError, tar_of(member("/etc/cron.d/x", data=b"x")))

    def test_absolute_path_to_outside(self):
        """An absolute path aimed at an existing file does not touch it."""
        target = os.path.join(self.outside, "target")
        self.assertRefused(AbsolutePathError, tar_of(member(target, data=b"owned")))

    def test_dot_dot(self):
        """A member climbing out with .. is refused."""
        self.assertRefused(PathTraversalError, tar_of(member("../outside/target", data=b"x")))

    def test_dot_dot_in_the_middle(self):
        """A .. anywhere in the path is refused, even one that would stay inside."""
        self.assertRefused(PathTraversalError, tar_of(member("a/../b", data=b"x")))

    def test_backslash(self):
        """A Windows-style separator is refused."""
        self.assertRefused(PathTraversalError, tar_of(member("..\\evil", data=b"x")))

    def test_symlink(self):
        """A symbolic link member is refused."""
        self.assertRefused(SymlinkMemberError, tar_of(
            member("link", tarfile.SYMTYPE, linkname=self.outside)))

    def test_symlink_then_file_through_it(self):
        """The classic link-then-write pair is refused at the link."""
        self.assertRefused(SymlinkMemberError, tar_of(
            member("link", tarfile.SYMTYPE, linkname=self.outside),
            member("link/target", data=b"owned")))

    def test_hardlink(self):
        """A hard link member is refused."""
        self.assertRefused(HardlinkMemberError, tar_of(
            member("link", tarfile.LNKTYPE, linkname=os.path.join(self.outside, "target"))))

    def test_character_device(self):
        """A character device is refused."""
        self.assertRefused(DeviceMemberError, tar_of(
            member("null", tarfile.CHRTYPE, devmajor=1, devminor=3)))

    def test_block_device(self):
        """A block device is refused."""
        self.assertRefused(DeviceMemberError, tar_of(
            member("sda", tarfile.BLKTYPE, devmajor=8, devminor=0)))

    def test_fifo(self):
        """A FIFO is refused."""
        self.assertRefused(FifoMemberError, tar_of(member("pipe", tarfile.FIFOTYPE)))

    def test_other_special_type(self):
        """An entry of a type that is neither file nor folder is refused."""
        self.assertRefused(SpecialMemberError, tar_of(member("label", b"V")))

    def test_huge_member(self):
        """A member declaring more than the per-file limit is refused before any read."""
        self.assertRefused(MemberTooLargeError, header_only("xmrig", 200 * 1024 * 1024))

    def test_member_over_custom_limit(self):
        """The per-file limit is configurable."""
        error = self.assertRefused(
            MemberTooLargeError, tar_of(member("a", data=b"x" * 101)),
            limits=ExtractLimits(max_member_bytes=100))
        self.assertIsInstance(error, LimitExceededError)

    def test_total_too_large(self):
        """Files each under the limit but too large together are refused."""
        self.assertRefused(
            ArchiveTooLargeError,
            tar_of(*[member("f{}".format(i), data=b"x" * 60) for i in range(3)]),
            limits=ExtractLimits(max_member_bytes=100, max_total_bytes=150))

    def test_too_many_members(self):
        """More members than the limit are refused, folders included."""
        self.assertRefused(
            TooManyMembersError,
            tar_of(member("d", tarfile.DIRTYPE), *[member("d/f{}".format(i), data=b"")
                                                   for i in range(3)]),
            limits=ExtractLimits(max_members=3))

    def test_duplicate_member(self):
        """The same path twice is refused (no silent overwrite)."""
        self.assertRefused(DuplicateMemberError, tar_of(
            member("xmrig", data=b"good"), member("./xmrig", data=b"evil")))

    def test_file_inside_file(self):
        """A member below a path that is a file is refused."""
        self.assertRefused(DuplicateMemberError, tar_of(
            member("a", data=b"x"), member("a/b", data=b"y")))

    def test_truncated_content(self):
        """A member whose content is cut short is refused."""
        self.assertRefused(CorruptArchiveError, header_only("xmrig", 1000) + bytes(100))

    def test_not_a_tar(self):
        """Random bytes are refused as a corrupt archive."""
        self.assertRefused(CorruptArchiveError, b"this is not a tar archive" * 40)

    def test_compressed_archive(self):
        """A gzip archive is not decompressed (no bombs behind the limits)."""
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w:gz") as archive:
            info, data = member("a", data=b"x")
            archive.addfile(info, io.BytesIO(data))
        self.assertRefused(CorruptArchiveError, out.getvalue())

    def test_pax_path_override(self):
        """A PAX header renaming a harmless member to ../.. is refused."""
        info, data = member("harmless", data=b"x", pax_headers={"path": "../../evil"})
        self.assertRefused(PathTraversalError, tar_of((info, data), format=tarfile.PAX_FORMAT))

    def test_gnu_long_name_traversal(self):
        """A GNU long name hiding .. past the 100-byte field is refused."""
        self.assertRefused(PathTraversalError, tar_of(member("x/" * 60 + "../" * 70 + "evil",
                                                             data=b"x")))


class DestinationTests(HostileArchiveMixin, SynchronousTestCase):
    """What is already at the destination is never written through."""

    def good_tar(self):
        return write_tar([("xmrig", b"\x7fELF new")], mtime=0)

    def test_pre_existing_symlink_in_destination_not_followed(self):
        """A symlink already inside the destination is replaced, its target untouched."""
        os.makedirs(self.dest)
        os.symlink(os.path.join(self.outside, "target"), os.path.join(self.dest, "xmrig"))
        extract_tar(self.good_tar(), self.dest, replace=True)
        with open(os.path.join(self.outside, "target"), "rb") as f:
            self.assertEqual(f.read(), b"original")
        path = os.path.join(self.dest, "xmrig")
        self.assertTrue(stat.S_ISREG(os.lstat(path).st_mode))
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b"\x7fELF new")

    def test_pre_existing_symlink_without_replace(self):
        """Without replace, a non-empty destination is refused and left alone."""
        os.makedirs(self.dest)
        os.symlink(os.path.join(self.outside, "target"), os.path.join(self.dest, "xmrig"))
        before = self.snapshot()
        self.assertRaises(UnsafeDestinationError, extract_tar, self.good_tar(), self.dest)
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(len(self.events), 1)

    def test_destination_is_symlink(self):
        """A destination that is itself a symlink is refused, even with replace."""
        os.symlink(self.outside, self.dest)
        before = self.snapshot()
        for replace in (False, True):
            self.assertRaises(UnsafeDestinationError, extract_tar, self.good_tar(), self.dest,
                              replace=replace)
        self.assertEqual(self.snapshot(), before)

    def test_destination_is_file(self):
        """A destination that is a file is refused."""
        with open(self.dest, "wb") as f:
            f.write(b"file")
        self.assertRaises(UnsafeDestinationError, extract_tar, self.good_tar(), self.dest,
                          replace=True)

    def test_empty_destination_folder_used(self):
        """An existing empty folder is filled without replace."""
        os.makedirs(self.dest)
        tree = extract_tar(self.good_tar(), self.dest)
        self.assertEqual(tree.files, ("xmrig",))
        self.assertEqual(os.listdir(self.parent), ["xmrig"])

    def test_replace_swaps_whole_folder(self):
        """Replacing drops the old files and leaves no staging folders."""
        os.makedirs(self.dest)
        with open(os.path.join(self.dest, "old"), "wb") as f:
            f.write(b"old")
        extract_tar(self.good_tar(), self.dest, replace=True)
        self.assertEqual(os.listdir(self.dest), ["xmrig"])
        self.assertEqual(os.listdir(self.parent), ["xmrig"])

    def test_missing_parents_created(self):
        """The destination's parent folders are created as needed."""
        dest = os.path.join(self.parent, "a", "b", "c")
        extract_tar(self.good_tar(), dest)
        self.assertTrue(os.path.isfile(os.path.join(dest, "xmrig")))

    def test_refused_archive_creates_no_parents(self):
        """An archive refused at the headers does not even create parent folders."""
        dest = os.path.join(self.parent, "a", "b")
        self.assertRaises(AbsolutePathError, extract_tar, tar_of(member("/x", data=b"")), dest)
        self.assertFalse(os.path.exists(os.path.join(self.parent, "a")))


class ModeTests(HostileArchiveMixin, SynchronousTestCase):
    """Modes are sanitised; folders and files only."""

    def extract(self, *members):
        return extract_tar(tar_of(*members), self.dest)

    def test_setuid_and_world_write_stripped(self):
        """setuid/setgid/sticky and group/other write bits never reach the disk."""
        self.extract(member("suid", data=b"x", mode=0o6777), member("plain", data=b"y",
                                                                     mode=0o666))
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.dest, "suid")).st_mode), 0o755)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.dest, "plain")).st_mode), 0o644)

    def test_ownership_ignored(self):
        """Owner ids in the archive are not applied."""
        self.extract(member("f", data=b"x", uid=4242, gid=4242, uname="evil", gname="evil"))
        self.assertEqual(os.stat(os.path.join(self.dest, "f")).st_uid, os.getuid())

    def test_folders_and_nested_files(self):
        """Folder entries and nested files are extracted in place."""
        tree = self.extract(member("bin", tarfile.DIRTYPE, mode=0o777),
                            member("bin/xmrig", data=b"x"), member("etc/c.json", data=b"{}"))
        self.assertEqual(tree.files, ("bin/xmrig", "etc/c.json"))
        for folder in ("", "bin", "etc"):
            mode = os.stat(os.path.join(self.dest, folder)).st_mode
            self.assertEqual(stat.S_IMODE(mode), 0o755, folder)

    def test_executable_marked(self):
        """The member named as executable gains x wherever it has r."""
        tree = extract_tar(write_tar([("xmrig", b"x")], mtime=0), self.dest, executable="xmrig")
        self.assertEqual(tree.executable, os.path.join(self.dest, "xmrig"))
        self.assertEqual(stat.S_IMODE(os.stat(tree.executable).st_mode), 0o700)

    def test_executable_must_be_a_member(self):
        """Naming an executable that is not in the archive is a programming error."""
        self.assertRaises(ValueError, extract_tar, write_tar([], mtime=0), self.dest,
                          executable="nope")


class DefenceInDepthTests(HostileArchiveMixin, SynchronousTestCase):
    """With our header checks switched off, the data filter and the final walk still hold."""

    def setUp(self):
        super().setUp()

        def unchecked(archive, data, limits):
            for info in archive:
                yield info, ArchiveMember(path=info.name, is_dir=info.isdir(), size=info.size,
                                          mode=info.mode, offset=info.offset_data)
        self.patch(_extract, "vetted_members", unchecked)

    def test_data_filter_stops_escape(self):
        """tarfile's data filter refuses ../ and we map it to PathEscapeError."""
        self.assertRefused(PathEscapeError, tar_of(member("../outside/target", data=b"owned")))

    def test_final_walk_stops_symlink(self):
        """A symlink the data filter allows (it stays inside) is caught by the final walk."""
        self.assertRefused(UnsafeArchiveError, tar_of(
            member("target", data=b"x"), member("link", tarfile.SYMTYPE, linkname="target")))


class MinerBundleHostileTests(HostileArchiveMixin, SynchronousTestCase):
    """Hostile rootfs inside a real, correctly encrypted miner bundle."""

    def bundle_of(self, rootfs, name="xmrig"):
        stim = seal_stim(DEFAULT_TIM_CONFIG, rootfs, "pw")
        return Bundle.seal("miner", name, stim)

    def test_symlink_in_bundle(self):
        """A symlink in the rootfs fails the extraction and leaves nothing behind."""
        before = self.snapshot()
        bundle = self.bundle_of(tar_of(member("l", tarfile.SYMTYPE, linkname="/")))
        self.assertRaises(SymlinkMemberError, extract_miner_bundle, bundle, "pw", self.dest)
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(len(self.events), 1)
        self.assertEqual(self.events[0]["bundle"], "xmrig")

    def test_name_traversal(self):
        """A bundle named ../../x cannot install outside the miners folder."""
        before = self.snapshot()
        for name in ("../outside", "../../x", "/abs", "..", ".", "a/b", "", ".hidden",
                     "x" * 65, "a\x00b", "名前"):
            bundle = self.bundle_of(write_tar([("xmrig", b"x")], mtime=0), name=name)
            self.assertRaises(InvalidBundleNameError, install_miner_bundle, bundle, "pw",
                              self.parent)
        self.assertEqual(self.snapshot(), before)

    def test_install_into_named_folder(self):
        """A valid name installs into miners/<name>, replacing an older install."""
        bundle = self.bundle_of(write_tar([("xmrig", b"\x7fELF")], mtime=0), name="xmrig-6.21")
        first = install_miner_bundle(bundle, "pw", self.parent)
        second = install_miner_bundle(bundle, "pw", self.parent)
        self.assertEqual(first.root, os.path.join(os.path.realpath(self.parent), "xmrig-6.21"))
        self.assertEqual(second.miner_path, os.path.join(first.root, "xmrig"))
        self.assertEqual(os.listdir(self.parent), ["xmrig-6.21"])


class NameTests(SynchronousTestCase):
    """Bundle names used as folders."""

    def test_valid_names(self):
        """Letters, digits, dots, dashes and underscores are fine."""
        for name in ("xmrig", "miner-xmrig", "x", "a.b_c-1", "A" * 64):
            self.assertEqual(validate_bundle_name(name), name)

    def test_install_dir_is_direct_child(self):
        """install_dir is always directly inside the resolved miners folder."""
        root = os.path.realpath(self.mktemp())
        self.assertEqual(install_dir(root, "m"), os.path.join(root, "m"))


class ScanPropertyTests(SynchronousTestCase):
    """Hypothesis: damaged archives only ever raise our errors."""

    @settings(max_examples=200)
    @given(st.binary(max_size=2048))
    def test_random_bytes(self, data):
        """Random bytes scan cleanly or raise a lethean error."""
        try:
            scan_tar(data)
        except LetheanError:
            pass

    @settings(max_examples=200)
    @given(st.data())
    def test_mutated_archive(self, data):
        """A valid archive with bytes changed scans or raises a lethean error."""
        tar = bytearray(write_tar([("bin/xmrig", b"x" * 700), ("c.json", b"{}")], mtime=5))
        for _ in range(data.draw(st.integers(1, 6))):
            tar[data.draw(st.integers(0, len(tar) - 1))] = data.draw(st.integers(0, 255))
        try:
            scan_tar(bytes(tar))
        except LetheanError:
            pass

    @settings(max_examples=30, deadline=None)
    @given(st.data())
    def test_mutated_extraction_stays_inside(self, data):
        """Extracting a damaged archive writes regular files inside dest, or nothing."""
        sandbox = os.path.abspath(self.mktemp())
        os.makedirs(sandbox)
        dest = os.path.join(sandbox, "dest")
        tar = bytearray(write_tar([("bin/xmrig", b"x" * 700), ("c.json", b"{}")], mtime=5))
        for _ in range(data.draw(st.integers(1, 6))):
            tar[data.draw(st.integers(0, len(tar) - 1))] = data.draw(st.integers(0, 255))
        try:
            extract_tar(bytes(tar), dest)
        except LetheanError:
            self.assertEqual(os.listdir(sandbox), [])
            return
        self.assertEqual(os.listdir(sandbox), ["dest"])
        for folder, dirnames, filenames in os.walk(dest):
            for name in filenames:
                self.assertTrue(stat.S_ISREG(os.lstat(os.path.join(folder, name)).st_mode))
