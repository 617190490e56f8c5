"""The Ray executor on a real two-node cluster started on this machine (``ray.cluster_utils.Cluster``, the utility
Ray's own tests use for node failures), bound to the loopback address only.

The acceptance test: the `test` preset ladder trains on the cluster while one of its two nodes is removed; every
run finishes, the lost one resumed from its checkpoint, each final loss equals the local executor's bit for bit,
and the store holds every run once. Real trainer, about a minute on two idle cores.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

# Read by Ray when it is imported: with it off, Ray takes 127.0.0.1 as this machine's address instead of the
# outward-facing one, so the cluster, this driver and every node bind to loopback only.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
ray = pytest.importorskip("ray", reason="the Ray executor's tests need the extra: pip install 'scalinglab[ray]'")
from ray.cluster_utils import Cluster  # noqa: E402

from scalinglab.cli import main  # noqa: E402
from scalinglab.demo.presets import get_preset  # noqa: E402
from scalinglab.ladder import RunStore, register, run_ladder  # noqa: E402
from scalinglab.ladder.ray_executor import RayExecutor  # noqa: E402

LOOPBACK = "127.0.0.1"


def _start_cluster():
    c = Cluster()
    try:
        c.add_node(num_cpus=1, node_ip_address=LOOPBACK, include_dashboard=False)
        worker = c.add_node(num_cpus=1, node_ip_address=LOOPBACK)
        c.wait_for_nodes()
    except Exception:
        c.shutdown()
        raise
    return c, worker


@pytest.fixture(scope="module")
def cluster():
    """A head and one worker node, 1 CPU each, on 127.0.0.1 only; shut down after the module's tests. Ray's workers
    inherit the nodes' environment: synthetic runs there take 0.25 s a step (2 s a run), so a Ctrl-C finds them
    running."""
    os.environ["SCALINGLAB_SYNTHETIC_STEP_SECONDS"] = "0.25"
    try:
        c, worker = _start_cluster()
    except Exception:  # Ray gives a raylet 30 s to register; on a machine busy with other work, try once more
        c, worker = _start_cluster()
    finally:
        del os.environ["SCALINGLAB_SYNTHETIC_STEP_SECONDS"]
    try:
        yield c, worker
    finally:
        if ray.is_initialized():
            ray.shutdown()
        c.shutdown()


def _test_ladder(path):
    preset = get_preset("test")
    store = RunStore(path)
    register(store, preset.specs(), preset.settings)
    return store


def _remove_node_mid_run(c, node, executor, ladder, timeout=120.0):
    """Once a run placed on ``node`` has written a checkpoint, remove the node; returns that run's id."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run_id, node_id in list(executor.placed.items()):
            if node_id == node.node_id and (ladder / "runs" / run_id / "checkpoint.pt").exists():
                c.remove_node(node)
                return run_id
        time.sleep(0.05)
    return None


def test_a_ladder_survives_a_lost_node_with_bit_identical_losses(cluster, tmp_path):
    c, worker = cluster
    assert c.address.startswith(LOOPBACK + ":")
    with _test_ladder(tmp_path / "local") as local:
        assert not run_ladder(local, jobs=2, threads=1, show_progress=False).failed
        expected = {r.run_id: r.metrics["final_loss"] for r in local.runs("done")}
    ladder = tmp_path / "ray"
    with _test_ladder(ladder) as store:
        executor = RayExecutor(c.address, cpus_per_run=1)
        lost = {}
        killer = threading.Thread(target=lambda: lost.update(run=_remove_node_mid_run(c, worker, executor, ladder)))
        killer.start()
        summary = run_ladder(store, show_progress=False, executor=executor)
        killer.join()
        assert lost["run"] is not None, "no run was in flight on the node to remove"
        assert summary.retried == [lost["run"]] and not summary.failed and not summary.interrupted
        assert executor.resumed[lost["run"]] > 0, "the lost run restarted from scratch, not from its checkpoint"
        runs = store.runs()
        assert store.counts()["done"] == len(runs) == len(expected) and store.integrity_ok()
        assert {r.run_id: r.attempts for r in runs} == {i: 1 + (i == lost["run"]) for i in expected}
        assert {r.run_id: r.metrics["final_loss"] for r in runs} == expected  # bit for bit
        curves = store.curves_frame()
        assert not curves.duplicated(["run_id", "n_tokens"]).any()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


RUN = ["ladder", "run", "--preset", "test", "--trainer", "synthetic", "--quiet", "--executor", "ray"]


def test_an_unreachable_address_fails_fast_in_one_line(tmp_path, capsys):
    start = time.monotonic()
    assert main([*RUN[:2], str(tmp_path / "l"), *RUN[2:], "--address", f"{LOOPBACK}:{_free_port()}"]) == 2
    assert time.monotonic() - start < 10
    err = capsys.readouterr().err.strip()
    assert "cannot reach a Ray cluster" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "l").exists()


@pytest.mark.parametrize("extra, message", [
    (["--gpus-per-run", "1"], "--gpus-per-run 1: no node of the Ray cluster has more than 0 GPU"),
    (["--trainer", "torch", "--procs-per-run", "2"],
     "--procs-per-run 2 × --cpus-per-run 1 = 2 CPUs: no node of the Ray cluster has more than 1 CPU"),
], ids=["gpus", "procs"])
def test_more_gpus_or_cpus_per_run_than_any_node_has_is_refused(cluster, tmp_path, capsys, extra, message):
    c, _ = cluster
    assert main([*RUN[:2], str(tmp_path / "l"), *RUN[2:], "--address", c.address, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "l").exists()


def test_ctrl_c_stops_the_ray_driver_cleanly_and_the_same_command_resumes(cluster, tmp_path):
    c, _ = cluster
    ladder = tmp_path / "l"
    cmd = [sys.executable, "-c", "from scalinglab.cli import main; main()", *RUN[:2], str(ladder), *RUN[2:],
           "--address", c.address]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if (ladder / "ladder.sqlite").exists():
            with RunStore(ladder) as store:
                if any(store.last_curve_tokens(r.run_id) for r in store.runs()):
                    break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 130 and "resume" in out, out
    with RunStore(ladder) as store:
        counts = store.counts()
        assert counts["running"] == 0 and counts["interrupted"] >= 1 and counts["done"] < len(store.runs())
        interrupted = {r.run_id for r in store.runs("interrupted")}
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    with RunStore(ladder) as store:
        assert store.counts()["done"] == len(store.runs())
        assert all(r.attempts == 2 for r in store.runs() if r.run_id in interrupted)


def test_two_processes_per_run_on_ray_end_at_the_local_executors_loss_bit_for_bit(cluster, tmp_path):
    """``--procs-per-run 2`` on Ray: a task asks for 2 CPUs and trains its run on two DDP processes of its node; the
    losses are the local executor's at two processes per run, bit for bit."""
    from test_ladder_executor import ddp_ladder

    c, _ = cluster
    with ddp_ladder(tmp_path / "local") as local:
        assert len(run_ladder(local, jobs=1, show_progress=False, procs_per_run=2).done) == 2
        expected = {r.run_id: r.metrics["final_loss"] for r in local.runs("done")}
    node = c.add_node(num_cpus=2, node_ip_address=LOOPBACK)  # the head has one CPU; a run now needs two
    try:
        c.wait_for_nodes()
        with ddp_ladder(tmp_path / "ray") as store:
            executor = RayExecutor(c.address, procs_per_run=2)
            summary = run_ladder(store, show_progress=False, executor=executor)
            assert len(summary.done) == 2 and not summary.failed
            assert set(executor.placed.values()) == {node.node_id}
            assert {r.run_id: r.metrics["final_loss"] for r in store.runs()} == expected
    finally:
        c.remove_node(node)
