"""Ravenshire's operations app: ``streamlit run app.py``.

The frame only: page config, configuration check, shared sidebar (with the kill switch's state), the kill switch
banner, then the page the user picked.
"""

import streamlit as st

from ravenshire.errors import RavenshireError
from ravenshire.ui import (
    bootstrap_demo_store,
    demo_banner,
    get_config,
    kill_switch_badge,
    kill_switch_banner,
    live_panel,
    mark_frame,
    take_deep_link,
)
from ravenshire.ui.auth import auth_enabled, login_gate, logout

st.set_page_config(page_title="Ravenshire", page_icon=":material/monitoring:", layout="wide")
deep_link = take_deep_link()  # a page opened by URL before the frame was up (see ravenshire.ui.require_frame)

try:
    config = get_config()
except RavenshireError as exc:
    st.error(f"Ravenshire cannot start: {exc}")
    st.stop()
user = login_gate(deep_link)  # with login on: the form until signed in (every page runs inside this frame)
mark_frame()  # only now may pages run
if config.is_demo:
    try:  # the first operator's visit to an empty store generates the demo universe (once, audited)
        bootstrap_demo_store()
    except RavenshireError as exc:
        st.error(f"The demo universe could not be generated: {exc}")

PAGES = [
    ("pages/command.py", "Command center", ":material/dashboard:"),
    ("pages/data.py", "Data", ":material/database:"),
    ("pages/backtests.py", "Backtests", ":material/query_stats:"),
    ("pages/execution.py", "Execution", ":material/swap_horiz:"),
    ("pages/portfolio.py", "Portfolio & risk", ":material/pie_chart:"),
    ("pages/drift.py", "Drift", ":material/troubleshoot:"),
    ("pages/clusters.py", "Clusters", ":material/scatter_plot:"),
    ("pages/stream.py", "Neural stream", ":material/forum:"),
    ("pages/operations.py", "Operations", ":material/schedule:"),
]
opening = deep_link if deep_link in {path for path, _, _ in PAGES} else PAGES[0][0]
pages = [st.Page(path, title=title, icon=icon, default=path == opening) for path, title, icon in PAGES]

with st.sidebar:
    st.markdown(f"### {config.ui.title}")
    st.caption("Operations system of a systematic fund")
    live_panel(kill_switch_badge)
    if config.is_demo:
        st.markdown(":orange-badge[:material/science: DEMO DATA]")
    st.caption(f"Store: `{config.to_dict()['STORE']['url']}`")
    if auth_enabled():
        st.caption(f":material/person: {user.name} · {user.role}")
        if st.button("Sign out", key="_ravenshire_sign_out"):
            logout()
            st.rerun()

live_panel(kill_switch_banner)
demo_banner(config.is_demo)
st.navigation(pages).run()
