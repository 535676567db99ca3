"""The job queue: checked submission, idempotency, claiming, cancelling, running each kind of job."""

from __future__ import annotations

import threading

import pytest

from ravenshire.config import Config
from ravenshire.errors import ConfigError
from ravenshire.orchestration import cancel_job, get_job, list_jobs, submit_job
from ravenshire.orchestration.jobs import claim_next_job, finish_job
from ravenshire.orchestration.runner import JobRunner, run_job
from ravenshire.store import init_db


@pytest.fixture
def engine(config: Config):
    return init_db(config.store_url)


def test_submit_claim_finish_and_the_queue_latency(engine, config: Config) -> None:
    job = submit_job(engine, "ping", submitted_by="alice")
    assert job.status == "queued" and job.submitted_by == "alice" and job.wait_s is None
    claimed = claim_next_job(engine, "host:1")
    assert claimed is not None and claimed.id == job.id and claimed.status == "running"
    assert claim_next_job(engine, "host:2") is None  # nobody else gets it
    finish_job(engine, job.id, "succeeded", result={"pong": True})
    done = get_job(engine, job.id)
    assert done.status == "succeeded" and done.result == {"pong": True} and done.progress == 1.0
    assert done.wait_s is not None and done.wait_s >= 0
    frame = list_jobs(engine)
    assert frame.iloc[0]["id"] == job.id and frame.iloc[0]["wait_s"] >= 0


def test_jobs_are_claimed_oldest_first_and_only_once_by_concurrent_workers(engine) -> None:
    ids = [submit_job(engine, "ping").id for _ in range(30)]
    got: list[int] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        while (job := claim_next_job(engine, f"h:{n}")) is not None:
            with lock:
                got.append(job.id)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == ids and len(set(got)) == len(ids)


def test_a_queued_job_can_be_cancelled_a_running_one_cannot(engine) -> None:
    a, b = submit_job(engine, "ping"), submit_job(engine, "ping")
    assert cancel_job(engine, a.id).status == "cancelled"
    claimed = claim_next_job(engine, "h:1")
    assert claimed is not None and claimed.id == b.id  # the cancelled one is never picked up
    with pytest.raises(ConfigError, match="is running: only a queued job can be cancelled"):
        cancel_job(engine, b.id)
    with pytest.raises(ConfigError, match="no job #999"):
        cancel_job(engine, 999)


def test_an_idempotency_key_makes_a_double_submission_one_job(engine) -> None:
    params = {"strategy": "ma_crossover", "parameters": {"ma_period": 30}, "symbols": ["AAA"]}
    first = submit_job(engine, "backtest", params, idempotency_key="form-123")
    again = submit_job(engine, "backtest", params, idempotency_key="form-123")
    assert again.id == first.id and len(list_jobs(engine)) == 1
    with pytest.raises(ConfigError, match="was used for another job"):
        submit_job(engine, "backtest", {**params, "parameters": {"ma_period": 40}}, idempotency_key="form-123")


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("nap", {}, "unknown job kind 'nap'; the kinds are backtest, optimize"),
        ("backtest", {"strategy": "nope"}, "nope"),
        ("backtest", {"strategy": "ma_crossover", "parameters": {"ma_period": -3}}, "ma_period"),
        ("backtest", {"strategy": "ma_crossover", "capital": 0}, "capital must be > 0"),
        ("backtest", {"strategy": "ma_crossover", "start": "2024-05-01", "end": "2024-01-01"}, "must be before end"),
        ("backtest", {"strategy": "ma_crossover", "start": "yesterday-ish"}, "start must be a date"),
        ("backtest", {"strategy": "ma_crossover", "costs": {"tax": 1}}, "unknown cost"),
        ("backtest", {"strategy": "ma_crossover", "colour": "red"}, "unknown backtest setting"),
        ("optimize", {"strategy": "ma_crossover"}, "space must name at least one parameter"),
        ("optimize", {"strategy": "ma_crossover", "space": {"ma_period": {"range": [50, 10, 5]}}}, "ma_period"),
        ("optimize", {"strategy": "ma_crossover", "space": {"ma_period": [10, 20]}, "trials": 0}, "trials must be"),
        ("agent_cycle", {"date": "2024-06-29"}, "not a trading session"),
        ("agent_cycle", {"when": "now"}, "takes only 'date'"),
    ],
)
def test_bad_job_params_are_refused_at_submission_with_the_reason(engine, config, kind, params, message) -> None:
    with pytest.raises(ConfigError, match=message):
        submit_job(engine, kind, params, config=config)
    assert list_jobs(engine).empty  # nothing reached the queue


def test_a_backtest_job_stores_its_run_and_links_it(engine, config: Config, manager) -> None:
    manager.get_market_data()  # the store holds the bars
    submit_job(engine, "backtest", {"strategy": "ma_crossover", "parameters": {"ma_period": 15},
                                          "end": "2024-06-28"}, config=config)  # fmt: skip
    claimed = claim_next_job(engine, "h:1")
    result = run_job(claimed, engine, config)
    assert result["run_id"] and result["strategy"] == "ma_crossover" and result["is_demo"] is True
    from ravenshire.research import ResearchManager

    stored = ResearchManager(config, engine=engine).load_run(result["run_id"])
    assert stored.info["parameters"]["ma_period"] == 15 and len(stored.equity) > 100


def test_the_runner_runs_jobs_and_keeps_a_failures_error(engine, config: Config, manager) -> None:
    manager.get_market_data()
    good = submit_job(engine, "ping")
    bad = submit_job(engine, "backtest", {"strategy": "ma_crossover", "version": "f" * 64}, config=config)
    runner = JobRunner(engine, config)
    runner.start()
    try:
        import time

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (get_job(engine, good.id).done and get_job(engine, bad.id).done):
            time.sleep(0.05)
    finally:
        runner.shutdown(grace=5)
    assert get_job(engine, good.id).status == "succeeded"
    failed = get_job(engine, bad.id)
    assert failed.status == "failed" and "version" in failed.error.lower()


def test_the_cli_queues_lists_shows_and_cancels_jobs(config: Config, monkeypatch, capsys) -> None:
    from ravenshire.cli import main

    monkeypatch.setenv("RAVENSHIRE_CONFIG", str(config.source))
    monkeypatch.setenv("RAVENSHIRE_STORE_URL", config.store_url)
    assert main(["backtest", "ma_crossover", "--symbols", "AAA,BBB", "--param", "ma_period=30", "--queue"]) == 0
    assert "job #1 (backtest) queued" in capsys.readouterr().out
    assert main(["optimize", "ma_crossover", "--space", "ma_period=10:40:10", "--trials", "3", "--queue"]) == 0
    assert main(["cycle", "--date", "2024-06-28", "--queue"]) == 0
    capsys.readouterr()
    engine = init_db(config.store_url)
    jobs = {j: get_job(engine, j) for j in (1, 2, 3)}
    assert jobs[1].params["parameters"]["ma_period"] == 30 and jobs[1].params["symbols"] == ["AAA", "BBB"]
    assert jobs[2].params["space"] == {"ma_period": {"range": [10, 40, 10]}} and jobs[2].params["trials"] == 3
    assert jobs[3].kind == "agent_cycle" and jobs[3].params == {"date": "2024-06-28"}
    assert main(["jobs", "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == ["#3", "#2", "#1"]
    assert main(["jobs", "cancel", "2"]) == 0 and "#2 optimize cancelled" in capsys.readouterr().out
    assert main(["jobs", "cancel", "2"]) == 2
    assert "only a queued job can be cancelled" in capsys.readouterr().err
    assert main(["jobs", "submit", "agent_cycle", "--param", "date=2024-06-29"]) == 2
    assert "not a trading session" in capsys.readouterr().err
    assert main(["backtest", "ma_crossover", "--param", "ma_period=-1", "--queue"]) == 2  # checked before queuing
    assert len(list_jobs(engine)) == 3


def test_hash_password_prints_a_verifiable_hash(monkeypatch, capsys) -> None:
    import io

    from ravenshire.cli import main
    from ravenshire.security import verify_password

    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    assert main(["hash-password", "--stdin"]) == 0
    hashed = capsys.readouterr().out.strip()
    assert hashed.startswith("scrypt$") and "correct horse" not in hashed
    assert verify_password("correct horse battery", hashed) and not verify_password("correct horse", hashed)
    assert not verify_password("x", "md5$abc") and not verify_password("x", "scrypt$1$2$3$%%%$%%%")
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["hash-password", "--stdin"]) == 2


def test_a_one_day_fetch_is_a_fetch(engine, config: Config) -> None:
    job = submit_job(
        engine, "data_fetch", {"symbols": ["AAA"], "start": "2024-06-28", "end": "2024-06-28"}, config=config
    )
    assert job.params == {"symbols": ["AAA"], "start": "2024-06-28", "end": "2024-06-28", "refresh": False}
    with pytest.raises(ConfigError, match="must be before end"):
        submit_job(engine, "data_fetch", {"start": "2024-06-28", "end": "2024-06-27"}, config=config)
    with pytest.raises(ConfigError, match="must be before end"):  # a backtest needs more than a day
        submit_job(engine, "backtest", {"strategy": "ma_crossover", "start": "2024-06-28", "end": "2024-06-28"})


def test_claiming_a_batch_takes_the_oldest_queued_jobs_once(engine) -> None:
    from ravenshire.orchestration.jobs import claim_jobs

    ids = [submit_job(engine, "ping").id for _ in range(5)]
    cancel_job(engine, ids[1])
    first = claim_jobs(engine, "h:1:1", 3)
    assert [j.id for j in first] == [ids[0], ids[2], ids[3]] and {j.status for j in first} == {"running"}
    assert [j.id for j in claim_jobs(engine, "h:2:2", 3)] == [ids[4]]
    assert claim_jobs(engine, "h:3:3", 3) == []


def test_finish_and_claim_records_one_end_and_takes_the_next_job(engine) -> None:
    from ravenshire.orchestration.jobs import finish_and_claim

    a, b = submit_job(engine, "ping"), submit_job(engine, "ping")
    first = finish_and_claim(engine, "h:1:1", None)
    assert first is not None and first.id == a.id
    second = finish_and_claim(engine, "h:1:1", {"job_id": a.id, "status": "succeeded", "result": {"pong": True}})
    assert second is not None and second.id == b.id
    assert get_job(engine, a.id).status == "succeeded" and get_job(engine, a.id).result == {"pong": True}
    assert finish_and_claim(engine, "h:1:1", {"job_id": b.id, "status": "failed", "error": "boom"}) is None
    assert get_job(engine, b.id).status == "failed" and get_job(engine, b.id).error == "boom"
