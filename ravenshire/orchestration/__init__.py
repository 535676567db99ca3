"""Layer 5, orchestration: workflows with retries and timeouts, the three daily cycles keyed by business date,
the job queue the UI and the CLI submit to, and the scheduler process (``python scheduler.py``).

The UI imports only the queue and the read queries from here; it never starts a scheduler.
"""

from ravenshire.orchestration.cycles import CYCLE_KINDS, CycleOutcome, recover_interrupted, run_cycle
from ravenshire.orchestration.jobs import (
    JOB_KINDS,
    Job,
    cancel_job,
    check_job,
    get_job,
    list_jobs,
    submit_job,
)
from ravenshire.orchestration.manager import OrchestrationManager
from ravenshire.orchestration.queries import cycle_runs, step_history, workflow_history
from ravenshire.orchestration.schedule import (
    Heartbeat,
    ScheduleEntry,
    ScheduleManager,
    SchedulerService,
    scheduler_heartbeat,
)
from ravenshire.orchestration.workflow import (
    SKIP,
    Skip,
    Step,
    StepContext,
    Workflow,
    WorkflowBuilder,
    WorkflowExecutor,
    WorkflowRun,
)

__all__ = [
    "CYCLE_KINDS",
    "JOB_KINDS",
    "SKIP",
    "CycleOutcome",
    "Heartbeat",
    "Job",
    "OrchestrationManager",
    "ScheduleEntry",
    "ScheduleManager",
    "SchedulerService",
    "Skip",
    "Step",
    "StepContext",
    "Workflow",
    "WorkflowBuilder",
    "WorkflowExecutor",
    "WorkflowRun",
    "cancel_job",
    "check_job",
    "cycle_runs",
    "get_job",
    "list_jobs",
    "recover_interrupted",
    "run_cycle",
    "scheduler_heartbeat",
    "step_history",
    "submit_job",
    "workflow_history",
]
