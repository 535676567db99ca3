"""Ravenshire's scheduler process: ``python scheduler.py`` (``--help`` for the options).

Runs the daily data, agent and monitoring cycles and the job queue (see ``ravenshire.orchestration``). One per
store; the Streamlit app never starts one.
"""

import sys

from ravenshire.orchestration.process import main

if __name__ == "__main__":
    sys.exit(main())
