"""Run folders (runs.py): numbering without races, options, snapshots, log truncation, the lock."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from stylegen import runs
from stylegen.errors import UserError


def test_run_numbers_follow_the_highest_and_skip_a_folder_taken_meanwhile(tmp_path, monkeypatch):
    (tmp_path / "00003-old-tiny").mkdir()
    (tmp_path / "notes").mkdir()
    assert runs.create_run_dir(tmp_path, "data-tiny").name == "00004-data-tiny"
    # Another process creates 00005 between our listing and our mkdir: we take 00006.
    real_mkdir = Path.mkdir

    def racing_mkdir(self, *args, **kwargs):
        if self.name == "00005-data-tiny":
            real_mkdir(self)  # the other process wins
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", racing_mkdir)
    assert runs.create_run_dir(tmp_path, "data-tiny").name == "00006-data-tiny"


def test_concurrent_processes_get_distinct_run_folders(tmp_path):
    code = (
        "import sys; from stylegen import runs; "
        "print(runs.create_run_dir(sys.argv[1], 'x-tiny').name)"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE)
        for _ in range(4)
    ]
    names = [p.communicate()[0].decode().strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(names) == [f"{i:05d}-x-tiny" for i in range(4)]


def test_outdir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(UserError, match="--outdir .*f is a file|cannot create --outdir"):
        runs.create_run_dir(tmp_path / "f", "x")


def test_run_name_is_safe_for_a_folder():
    assert runs.run_name("data/my photos.zip", "cpu32") == "my_photos-cpu32"
    assert runs.run_name("fashion-mnist", "tiny") == "fashion-mnist-tiny"


def test_options_round_trip_with_kind_and_damage_is_one_line(tmp_path):
    runs.write_options(tmp_path, "cyclegan", {"a": 1, "kind": "ignored"})
    assert runs.read_options(tmp_path) == ("cyclegan", {"a": 1})
    (tmp_path / runs.OPTIONS_FILE).write_text('{"a": 1')  # cut short
    with pytest.raises(UserError, match="training_options.json is not readable JSON"):
        runs.read_options(tmp_path)
    (tmp_path / runs.OPTIONS_FILE).write_text("[1, 2]")
    with pytest.raises(UserError, match="does not hold a JSON object"):
        runs.read_options(tmp_path)
    (tmp_path / runs.OPTIONS_FILE).write_text('{"a": 2}')  # written before "kind" existed
    assert runs.read_options(tmp_path) == ("stylegan", {"a": 2})
    with pytest.raises(UserError, match="is not a run folder"):
        runs.read_options(tmp_path / "nothing")


def test_snapshot_names_and_the_newest_complete_snapshot(tmp_path):
    assert runs.snapshot_name(0) == "snapshot-000000"
    assert runs.snapshot_name(12_000) == "snapshot-000012"
    assert runs.snapshot_name(1_032) == "snapshot-000001.032"
    for name in ("snapshot-000000.016", "snapshot-000001", "snapshot-000002", ".snapshot-x.tmp"):
        (tmp_path / name).mkdir()
    for name in ("snapshot-000000.016", "snapshot-000001", ".snapshot-x.tmp"):
        (tmp_path / name / runs.STATE_FILE).write_bytes(b"x")
    # snapshot-000002 has no training state: it is not complete.
    assert [p.name for p in runs.list_snapshots(tmp_path)] == [
        "snapshot-000000.016",
        "snapshot-000001",
    ]
    assert runs.latest_snapshot(tmp_path).name == "snapshot-000001"
    assert runs.latest_snapshot(tmp_path / "missing") is None
    runs.clean_leftovers(tmp_path)
    assert not (tmp_path / ".snapshot-x.tmp").exists()


def test_truncate_logs_drops_newer_and_cut_lines(tmp_path):
    stats = [{"Progress/kimg": k} for k in (0.1, 0.2, 0.3)]
    (tmp_path / runs.STATS_FILE).write_text(
        "".join(json.dumps(s) + "\n" for s in stats) + '{"Progress/ki'
    )
    metrics = [{"kimg": 0.2, "results": {}}, {"kimg": 0.3, "results": {}}]
    (tmp_path / runs.METRICS_FILE).write_text("".join(json.dumps(m) + "\n" for m in metrics))
    runs.truncate_logs(tmp_path, 0.2)
    kept = [json.loads(x) for x in (tmp_path / runs.STATS_FILE).read_text().splitlines()]
    assert [s["Progress/kimg"] for s in kept] == [0.1, 0.2]
    kept = [json.loads(x) for x in (tmp_path / runs.METRICS_FILE).read_text().splitlines()]
    assert [m["kimg"] for m in kept] == [0.2]


def test_lock_refuses_a_second_holder_and_is_released(tmp_path):
    with runs.lock_run(tmp_path):
        holder = json.loads((tmp_path / runs.LOCK_FILE).read_text())
        assert holder == {"pid": os.getpid(), "host": socket.gethostname()}
        # Another live process holds it (our parent stands in for it).
        (tmp_path / runs.LOCK_FILE).write_text(
            json.dumps({"pid": os.getppid(), "host": socket.gethostname()})
        )
        with pytest.raises(UserError, match=f"in use by process {os.getppid()} on"):
            runs.acquire_lock(tmp_path)
        (tmp_path / runs.LOCK_FILE).write_text(json.dumps(holder))
    assert not (tmp_path / runs.LOCK_FILE).exists()


def test_stale_lock_of_a_killed_process_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid is now free: the lock it "left" is stale
    (tmp_path / runs.LOCK_FILE).write_text(
        json.dumps({"pid": dead.pid, "host": socket.gethostname()})
    )
    with runs.lock_run(tmp_path):
        assert json.loads((tmp_path / runs.LOCK_FILE).read_text())["pid"] == os.getpid()
    # An unreadable lock may be one another process is writing right now: respected while
    # new, taken over once old.
    (tmp_path / runs.LOCK_FILE).write_text("")
    with pytest.raises(UserError, match="in use by process"):
        runs.acquire_lock(tmp_path)
    os.utime(tmp_path / runs.LOCK_FILE, (1e9, 1e9))
    with runs.lock_run(tmp_path):
        pass
    # A lock from another host cannot be checked and is respected.
    (tmp_path / runs.LOCK_FILE).write_text(json.dumps({"pid": 1, "host": "elsewhere"}))
    with pytest.raises(UserError, match="in use by process 1 on elsewhere"):
        runs.acquire_lock(tmp_path)
