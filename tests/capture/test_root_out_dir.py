"""`sudo abortscope run --out DIR` against a hostile DIR: root follows no link there, chowns and deletes nothing of others'.

The attacker is the user who typed the command (SUDO_UID), or any local
user who can write into DIR. Each test plants the issue's traps with that
user's own rights, then checks the root-only file they aimed at, the
directory's other files, and what the run published.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from capture.bundle_writer import BUNDLE_FILES
from tests import conftest
from tests.capture.conftest import run_as
from capture.procs import free_port, listeners_on
from tests.capture.runs import QUICK, run_cli, snapshot, start_run

pytestmark = [pytest.mark.root, pytest.mark.slow]

SECRET = b"root's own data\n"
#: every name the old code wrote by path in the bundle, and the temp file of meta.json
TRAP_NAMES = (*BUNDLE_FILES, "meta.json.tmp", "capture.pcap.pcapng")
PLANT_LOOP_S = 8.0


@pytest.fixture
def root_only_file(tmp_path) -> Path:
    """A file only root may read or write, the attack's target."""
    vault = tmp_path / "vault"
    vault.mkdir(mode=0o700)
    target = vault / "target"
    target.write_bytes(SECRET)
    target.chmod(0o600)
    return target


@pytest.fixture
def users_home(local_user) -> Path:
    """A directory the invoking user owns and can reach (their home, say)."""
    conftest.require_tools("go", "curl", "tcpdump", "strace", "setpriv")
    home = Path(tempfile.mkdtemp(prefix="abortscope-home-"))
    home.chmod(0o755)
    os.chown(home, local_user.uid, local_user.gid)
    yield home
    shutil.rmtree(home)


def plant_links(user, directory: Path, target: Path, seconds: float = 0.0, names=TRAP_NAMES) -> subprocess.Popen | None:
    """As ``user``: a link to ``target`` at every trap name in ``directory``; with ``seconds``, again and again
    for that long in the background (racing the run), as fast as a shell loop goes."""
    links = " ".join(f"ln -sfn {target} {directory / name};" for name in names)
    script = f"set -e; end=$(( $(date +%s) + {int(seconds)} )); while :; do {links} [ $(date +%s) -ge $end ] && break; done"
    argv = ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--clear-groups", "bash", "-c", script]
    if not seconds:
        subprocess.run(argv, check=True, cwd="/")
        assert all((directory / name).is_symlink() for name in names)
        return None
    return subprocess.Popen(argv, cwd="/")


def assert_target_intact(target: Path) -> None:
    st = target.lstat()
    assert target.read_bytes() == SECRET, "root wrote through a planted link"
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, 0, 0o600), "root chowned or chmodded through a planted link"


def assert_bundle_is_the_users(bundle: Path, user) -> None:
    for name in ("capture.pcap", "app.jsonl", "strace.txt", "kernel.txt", "meta.json"):
        st = (bundle / name).lstat()
        assert (bundle / name).is_file() and not (bundle / name).is_symlink(), name
        assert (st.st_uid, st.st_gid) == (user.uid, user.gid), name


def test_links_planted_in_the_users_own_bundle_dir_are_replaced_never_followed(users_home, local_user, root_only_file):
    """The issue's attack: `mkdir ~/evil; ln -s /root-only ~/evil/meta.json.tmp; sudo abortscope run --out ~/evil`,
    on an earlier bundle of theirs (so it is accepted), with links at every other bundle name before the run,
    and at every name, meta.json too, again and again while it runs."""
    evil = users_home / "evil"
    first = run_cli(evil, *QUICK, sudo_from=local_user)  # an earlier run: evil/ is the user's bundle
    assert first.returncode == 0, first.stderr
    before_run = [name for name in TRAP_NAMES if name != "meta.json"]
    for name in before_run:
        (evil / name).unlink(missing_ok=True)
    plant_links(local_user, evil, root_only_file, names=before_run)
    port = free_port()
    run = start_run(evil, *QUICK, "--port", str(port), sudo_from=local_user)
    planter = None
    try:
        deadline = time.monotonic() + 30
        while not listeners_on("127.0.0.1", port) and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.005)
        planter = plant_links(local_user, evil, root_only_file, seconds=PLANT_LOOP_S)  # past preflight: all names
        stdout, stderr = run.communicate(timeout=60)
    finally:
        if planter is not None:
            planter.wait(PLANT_LOOP_S + 10)
    assert_target_intact(root_only_file)
    assert run.returncode == 0, stderr
    assert "broken pipe" in stdout


def test_force_into_a_folder_of_links_replaces_them_and_touches_nothing_else(users_home, local_user, root_only_file):
    evil = users_home / "evil"
    run_as(local_user, ["mkdir", str(evil)])
    plant_links(local_user, evil, root_only_file)
    run_as(local_user, ["bash", "-c", f"echo mine > {evil / 'notes.txt'}"])
    refused = run_cli(evil, *QUICK, sudo_from=local_user)
    assert refused.returncode == 1 and "holds no abortscope bundle" in refused.stderr and "--force" in refused.stderr
    assert_target_intact(root_only_file)
    done = run_cli(evil, *QUICK, "--force", sudo_from=local_user)
    assert done.returncode == 0, done.stderr
    assert_target_intact(root_only_file)
    assert_bundle_is_the_users(evil, local_user)
    assert (evil / "notes.txt").read_text() == "mine\n" and (evil / "notes.txt").stat().st_uid == local_user.uid
    assert not (evil / "meta.json.tmp").exists() or (evil / "meta.json.tmp").is_symlink()  # theirs, never written


@pytest.fixture
def shared_folder(tmp_path, local_user) -> Path:
    """A folder like /tmp or /etc: files of root, of the user and of another user, one named like a bundle file."""
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "config").write_text("root's\n")
    (folder / "app.jsonl").write_text('{"not": "ours"}\n')
    (folder / "theirs.txt").write_text("another user's\n")
    os.chown(folder / "theirs.txt", 65534, 65534)
    (folder / "sub").mkdir()
    (folder / "sub" / "deep").write_text("root's too\n")
    return folder


def test_an_existing_folder_that_is_no_bundle_is_refused_and_nothing_changes(shared_folder, local_user):
    """`sudo abortscope run --out /tmp` gave the user every file there and deleted those named like bundle files."""
    before = snapshot(shared_folder)
    done = run_cli(shared_folder, *QUICK, sudo_from=local_user)
    assert done.returncode == 1, done.stdout
    assert "not empty" in done.stderr and "holds no abortscope bundle" in done.stderr and "--force" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert snapshot(shared_folder) == before


def test_with_force_only_the_bundle_names_change_and_nothing_else_changes_owner(shared_folder, local_user):
    before = snapshot(shared_folder)
    done = run_cli(shared_folder, *QUICK, "--force", sudo_from=local_user)
    assert done.returncode == 0, done.stderr
    after = snapshot(shared_folder)
    untouched = {name: entry for name, entry in before.items() if name not in BUNDLE_FILES and name != "."}
    assert {name: after[name] for name in untouched} == untouched
    assert after["."][1:3] == before["."][1:3], "the folder keeps its owner"
    assert_bundle_is_the_users(shared_folder, local_user)  # app.jsonl replaced: it is a bundle name


def test_a_folder_every_user_can_write_is_refused(tmp_path, local_user):
    conftest.require_tools("go", "curl", "tcpdump")
    folder = tmp_path / "world"
    folder.mkdir()
    folder.chmod(0o1777)
    done = run_cli(folder, *QUICK, sudo_from=local_user)
    assert done.returncode == 1 and "every user can write into it" in done.stderr, done.stderr
    assert list(folder.iterdir()) == []


def test_a_read_only_out_says_so_in_one_line_before_anything_starts(tmp_path):
    """An unwritable --out: a clear line naming the directory and the reason, no errno soup, nothing started."""
    conftest.require_tools("go", "curl", "tcpdump", "mount", "umount")
    readonly = tmp_path / "ro"
    readonly.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m,mode=0755", "abortscope-test", str(readonly)], check=True)
    try:
        for out in (readonly, readonly / "bundle"):
            started = time.monotonic()
            done = run_cli(out, *QUICK)
            assert done.returncode == 1, done.stdout
            assert len(done.stderr.strip().splitlines()) == 1, done.stderr
            assert str(out.parent if out != readonly else out) in done.stderr or str(out) in done.stderr
            assert "Read-only file system" in done.stderr and "Traceback" not in done.stderr
            assert "[Errno" not in done.stderr and "meta.json" not in done.stderr  # not a raw errno of a late write
            assert time.monotonic() - started < 10  # refused at preflight: no server, no capture
    finally:
        subprocess.run(["umount", str(readonly)], check=True)
    shutil.rmtree(readonly)


def test_publishing_onto_another_file_system_copies_and_still_follows_no_link(tmp_path, local_user, root_only_file):
    """--out on another file system than the staging directory: each file is copied into a new O_EXCL|O_NOFOLLOW
    file and renamed onto its name; a link planted at that name is replaced, its target untouched."""
    from capture.bundle_writer import open_bundle_dir
    from capture.out_dir import make_staging

    conftest.require_tools("mount", "umount")
    other_fs = tmp_path / "other"
    other_fs.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755", "abortscope-test", str(other_fs)], check=True)
    try:
        os.chown(other_fs, local_user.uid, local_user.gid)
        (other_fs / "capture.pcap").symlink_to(root_only_file)
        out = open_bundle_dir(other_fs, local_user, force=True)
        stage = make_staging()
        (stage / "capture.pcap").write_bytes(b"packets")
        assert os.stat(stage).st_dev != os.stat(other_fs).st_dev
        out.publish(stage / "capture.pcap", "capture.pcap")
        out.close()
        shutil.rmtree(stage)
        published = other_fs / "capture.pcap"
        assert not published.is_symlink() and published.read_bytes() == b"packets"
        assert (published.stat().st_uid, published.stat().st_gid) == (local_user.uid, local_user.gid)
        assert_target_intact(root_only_file)
        assert [p.name for p in other_fs.iterdir()] == ["capture.pcap"], "no temporary file left"
    finally:
        subprocess.run(["umount", str(other_fs)], check=True)
