"""The Data page in a real headless Chromium against a real `streamlit run app.py`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ui.browser import app_server, chromium_page, wait_for_app

pytestmark = pytest.mark.slow


def test_data_page_in_a_browser_bootstraps_demo_data_and_imports_a_file(app_env, tmp_path: Path, shots: Path) -> None:
    log = tmp_path / "app.log"
    with app_server(app_env, log) as url, chromium_page() as page:
        page.goto(url)  # the landing page is the Command center: go to Data by the sidebar's navigation
        wait_for_app(page)
        page.locator('[data-testid="stSidebarNav"] a', has_text="Data").click()
        wait_for_app(page)
        page.get_by_text("Universe and coverage").wait_for(timeout=60_000)
        page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=60_000)
        wait_for_app(page)
        body = page.inner_text("body")
        assert "DEMO DATA" in body
        assert "Traceback" not in body
        assert page.locator('[data-testid="stDataFrame"]').count() >= 1
        assert page.locator('[data-testid="stMetricValue"]').first.inner_text() == "3"  # instruments
        page.screenshot(path=str(shots / "data-page.png"), full_page=True)

        page.get_by_role("tab", name="Fetch & import").click()
        csv = tmp_path / "house.csv"
        csv.write_text("Date,Close\n2025-06-02,10\n2025-06-03,10.4\n2025-06-04,10.1\n2025-06-05,10.3\n")
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(csv))
        page.get_by_label("Symbol (for a one-symbol file without a symbol column)").fill("HOUSE")
        page.get_by_role("button", name="Import").click()
        page.get_by_text("import of house.csv: ok").wait_for(timeout=60_000)
        wait_for_app(page)
        assert page.locator('[data-testid="stMetricValue"]').first.inner_text() == "4"  # HOUSE joined
        page.screenshot(path=str(shots / "after-import.png"), full_page=True)
        assert "Traceback" not in page.inner_text("body")
    assert "Traceback" not in log.read_text()


def test_a_deep_link_on_a_fresh_server_opens_the_page_inside_the_frame(app_env, tmp_path: Path, shots: Path) -> None:
    """Regression: with a pages/ folder, Streamlit ran a fresh server's first deep-linked request as the page file
    alone (no app.py: no kill-switch banner, no sidebar, no login gate)."""
    from ravenshire.config import load_config
    from ravenshire.execution.killswitch import set_kill_switch
    from ravenshire.store import init_db

    config = load_config(env=app_env)
    set_kill_switch(init_db(config.store_url), actor="tester", reason="deep link check")
    with app_server(app_env, tmp_path / "app.log") as url, chromium_page() as page:
        page.goto(f"{url}/execution")  # the very first request of the server
        wait_for_app(page)
        page.get_by_text("TRADING HALTED", exact=True).wait_for(timeout=60_000)
        page.get_by_text("Account PAPER-001").wait_for(timeout=60_000)  # and it is the Execution page
        body = page.inner_text("body")
        assert "deep link check" in body and "Traceback" not in body
        page.screenshot(path=str(shots / "deep-link.png"), full_page=True)


def test_the_agent_pages_in_a_browser_and_the_3d_clusters_are_drawn(app_env, tmp_path: Path, shots: Path) -> None:
    """Command center (the landing page), Clusters (a pydeck OrbitView: its WebGL canvas must hold the clusters'
    points) and Neural stream, against a store seeded by real agent cycles."""
    import io

    import numpy as np
    from PIL import Image

    from tests.ui.test_command_page import LAST, seed_stores, use_store

    use_store(app_env, seed_stores(tmp_path / "seed")["cycles"])

    def cluster_pixels(png: bytes) -> dict[str, int]:
        """How many coloured pixels the screenshot has, by dominant channel: the clusters' points are blue, orange
        and green (pages/clusters.py's first colours); the background, axes and labels are grey."""
        pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)
        coloured = pixels[(pixels.max(axis=2) - pixels.min(axis=2)) > 60]
        return {name: int((coloured.argmax(axis=1) == k).sum()) for k, name in enumerate(["red", "green", "blue"])}

    log = tmp_path / "app.log"
    with app_server(app_env, log) as url, chromium_page() as page:
        page.goto(url)
        wait_for_app(page)
        page.get_by_role("heading", name="Command center").wait_for(timeout=60_000)
        page.get_by_text("Latest Sovereign decision").wait_for(timeout=60_000)
        wait_for_app(page)
        body = page.inner_text("body")
        assert "Traceback" not in body and "DEMO DATA" in body
        assert f"agent-{LAST}" in body and "Market regime" in body
        page.screenshot(path=str(shots / "command-center.png"), full_page=True)

        page.goto(f"{url}/clusters")
        wait_for_app(page)
        chart = page.locator('[data-testid="stDeckGlJsonChart"]')
        chart.locator("canvas").first.wait_for(timeout=60_000)
        page.wait_for_timeout(3000)  # deck.gl draws on the next animation frames
        drawn = cluster_pixels(chart.screenshot(path=str(shots / "clusters-3d.png")))
        assert sum(n > 100 for n in drawn.values()) >= 2, drawn  # points of at least two clusters are drawn
        assert "Traceback" not in page.inner_text("body")
        page.screenshot(path=str(shots / "clusters.png"), full_page=True)

        page.goto(f"{url}/stream")
        wait_for_app(page)
        page.get_by_text("Sovereign → Execution").first.wait_for(timeout=60_000)
        body = page.inner_text("body")
        assert "Traceback" not in body and "overall confidence" in body
        page.screenshot(path=str(shots / "neural-stream.png"), full_page=True)
    assert "Traceback" not in log.read_text()


def test_backtests_page_in_a_browser_runs_a_backtest_and_shows_its_result(app_env, tmp_path: Path, shots: Path) -> None:
    from ravenshire.config import load_config
    from ravenshire.data import DataManager

    DataManager(load_config(env=app_env)).get_market_data()  # the universe's demo bars
    log = tmp_path / "app.log"
    with app_server(app_env, log) as url, chromium_page() as page:
        page.goto(url)
        wait_for_app(page)
        page.locator('[data-testid="stSidebarNav"] a', has_text="Backtests").click()
        wait_for_app(page)
        page.get_by_role("heading", name="Backtests").wait_for(timeout=60_000)
        page.get_by_text("No backtest stored yet").wait_for(timeout=60_000)
        page.get_by_role("button", name="Run backtest").click()
        page.get_by_text("Run #1 stored").wait_for(timeout=60_000)
        wait_for_app(page)
        page.get_by_text("Run #1 — ma_crossover").wait_for(timeout=60_000)
        page.locator('[data-testid="stVegaLiteChart"]').first.wait_for(timeout=60_000)
        body = page.inner_text("body")
        assert "Traceback" not in body and "DEMO DATA" in body
        assert "Sharpe" in body and "Max drawdown [%]" in body
        assert page.locator('[data-testid="stMetric"]').count() >= 12
        page.screenshot(path=str(shots / "backtests.png"), full_page=True)
        page.get_by_text("Run #1 — ma_crossover").scroll_into_view_if_needed()  # the page scrolls inside the app
        page.screenshot(path=str(shots / "backtests-result.png"), full_page=True)
    assert "Traceback" not in log.read_text()


def test_portfolio_and_operations_pages_in_a_browser_and_the_risk_sphere_is_drawn(
    app_env, tmp_path: Path, shots: Path
) -> None:
    """Portfolio & risk (its risk sphere, a pydeck OrbitView without a map: the WebGL canvas must hold the sphere's
    coloured points) and Operations (heartbeat, cycles, workflow runs, queue), against a store with paper
    positions, a data cycle, a queued job and a scheduler's heartbeat row."""
    import io
    import math

    import numpy as np
    from PIL import Image

    from ravenshire.config import load_config
    from ravenshire.data import DataManager
    from ravenshire.execution import ExecutionManager
    from ravenshire.orchestration import run_cycle, submit_job
    from ravenshire.orchestration.schedule import SchedulerService
    from ravenshire.store import init_db

    config = load_config(env=app_env)
    engine = init_db(config.store_url)
    data = DataManager(config, engine=engine)
    data.bootstrap_demo()
    closes = data.close_prices(["AAA", "BBB"]).iloc[-1]
    book = ExecutionManager(config, engine=engine)
    cash = book.account().cash
    book.execute_trade("AAA", "BUY", math.floor(0.20 * cash / closes["AAA"]))
    book.execute_trade("BBB", "BUY", math.floor(0.10 * cash / closes["BBB"]))
    assert run_cycle("data", engine, config, "2025-06-27").status in ("succeeded", "skipped")
    submit_job(engine, "ping", {}, submitted_by="tester")
    SchedulerService(config, engine).acquire()
    engine.dispose()

    def sphere_pixels(png: bytes) -> dict[str, int]:
        """Coloured pixels of the screenshot by dominant channel: the sphere is green, amber or red; the limit
        shell, the background and the labels are grey."""
        pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)
        coloured = pixels[(pixels.max(axis=2) - pixels.min(axis=2)) > 60]
        return {name: int((coloured.argmax(axis=1) == k).sum()) for k, name in enumerate(["red", "green", "blue"])}

    log = tmp_path / "app.log"
    with app_server(app_env, log) as url, chromium_page() as page:
        page.goto(url)
        wait_for_app(page)
        page.locator('[data-testid="stSidebarNav"] a', has_text="Portfolio & risk").click()
        wait_for_app(page)
        page.get_by_text("Risk against the limits").wait_for(timeout=60_000)
        chart = page.locator('[data-testid="stDeckGlJsonChart"]')
        chart.locator("canvas").first.wait_for(timeout=60_000)
        wait_for_app(page)
        page.wait_for_timeout(3000)  # deck.gl draws on the next animation frames
        body = page.inner_text("body")
        assert "Traceback" not in body and "DEMO DATA" in body and "Largest position" in body
        drawn = sphere_pixels(chart.screenshot(path=str(shots / "risk-sphere.png")))
        colour = "green" if "green: under half" in body else "red"  # amber is mostly red and green
        assert drawn[colour] > 500, drawn  # the sphere's points are drawn, in the colour of the risk
        page.screenshot(path=str(shots / "portfolio.png"), full_page=True)

        page.goto(f"{url}/operations")
        wait_for_app(page)
        page.get_by_text("Job queue").first.wait_for(timeout=60_000)
        page.get_by_text("Workflow runs").first.wait_for(timeout=60_000)
        wait_for_app(page)
        body = page.inner_text("body")
        assert "Traceback" not in body and "Scheduled jobs" in body and "Run data cycle now" in body
        assert "data-2025-06-27" in body or page.locator('[data-testid="stDataFrame"]').count() >= 4
        page.screenshot(path=str(shots / "operations.png"), full_page=True)
    assert "Traceback" not in log.read_text()


def test_every_page_renders_in_a_browser_without_an_error(app_env, tmp_path: Path, shots: Path) -> None:
    import ast

    from tests.conftest import PROJECT

    tree = ast.parse((PROJECT / "app.py").read_text())
    pages = [
        (elt.elts[0].value, elt.elts[1].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "PAGES"
        for elt in node.value.elts
    ]
    assert len(pages) == 9
    with app_server(app_env, tmp_path / "app.log") as url, chromium_page() as page:
        page.goto(url)
        wait_for_app(page)
        for path, title in pages:
            page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
            wait_for_app(page)
            page.locator("h1", has_text=title).first.wait_for(timeout=60_000)
            wait_for_app(page)
            body = page.inner_text("body")
            assert "Traceback" not in body, path
            assert page.locator('[data-testid="stException"]').count() == 0, path
            page.screenshot(path=str(shots / f"{Path(path).stem}.png"), full_page=True)


def test_with_login_on_no_page_shows_before_sign_in_and_a_deep_link_opens_after(
    app_env, tmp_path: Path, shots: Path
) -> None:
    """Regression: with login on, Streamlit stayed in its pages-folder mode until someone signed in, and a page
    opened from its sidebar or by URL ran without the frame's gate, showing the book to anyone."""
    from ravenshire.security import hash_password

    env = {**app_env, "RAVENSHIRE_UI_PASSWORD_HASH": hash_password("open sesame 42")}
    with app_server(env, tmp_path / "app.log") as url, chromium_page() as page:
        page.goto(f"{url}/execution")  # the server's first request, a deep link
        wait_for_app(page)
        page.get_by_text("Sign in", exact=True).first.wait_for(timeout=60_000)
        nav = page.locator('[data-testid="stSidebarNav"] a')
        for i in range(nav.count()):  # the pages-folder sidebar, if Streamlit shows one: every link is gated
            nav.nth(i).click()
            wait_for_app(page)
            page.get_by_text("Sign in", exact=True).first.wait_for(timeout=60_000)
            assert "Account PAPER-001" not in page.inner_text("body")
        page.goto(f"{url}/execution")
        wait_for_app(page)
        body = page.inner_text("body")
        assert "Sign in" in body and "Account PAPER-001" not in body and "Equity" not in body
        page.screenshot(path=str(shots / "sign-in.png"), full_page=True)
        page.get_by_role("textbox", name="Password").fill("open sesame 42")
        page.get_by_role("button", name="Sign in").click()
        wait_for_app(page)
        page.get_by_text("Account PAPER-001").wait_for(timeout=60_000)  # the page the link asked for
        assert "Traceback" not in page.inner_text("body")
        page.screenshot(path=str(shots / "signed-in-execution.png"), full_page=True)
