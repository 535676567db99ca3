"""Ravenshire's operations app: ``streamlit run app.py``.

The frame only: page config, configuration check, shared sidebar (with the kill switch's state), the kill switch
banner, then the page the user picked.
"""

import streamlit as st

from ravenshire.errors import RavenshireError
from ravenshire.ui import demo_banner, get_config, kill_switch_badge, kill_switch_banner, live_panel

st.set_page_config(page_title="Ravenshire", page_icon=":material/monitoring:", layout="wide")

try:
    config = get_config()
except RavenshireError as exc:
    st.error(f"Ravenshire cannot start: {exc}")
    st.stop()

pages = [
    st.Page("pages/data.py", title="Data", icon=":material/database:", default=True),
    st.Page("pages/execution.py", title="Execution", icon=":material/swap_horiz:"),
    st.Page("pages/drift.py", title="Drift", icon=":material/troubleshoot:"),
]

with st.sidebar:
    st.markdown(f"### {config.ui.title}")
    st.caption("Operations system of a systematic fund")
    live_panel(kill_switch_badge)
    if config.is_demo:
        st.markdown(":orange-badge[:material/science: DEMO DATA]")
    st.caption(f"Store: `{config.to_dict()['STORE']['url']}`")

live_panel(kill_switch_banner)
demo_banner(config.is_demo)
st.navigation(pages).run()
