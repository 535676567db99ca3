"""runs.builtin: the built-in strategy behind a run, whatever its display name

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 18:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The built-in strategies when this migration was written (a migration must not import the code it migrates).
_BUILTINS = (
    "ma_crossover",
    "ma_crossover_fast_slow",
    "ts_momentum",
    "xs_momentum",
    "mean_reversion",
    "buy_and_hold",
    "equal_weight",
)


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("builtin", sa.String(length=64), nullable=True))
    # Runs made before recorded only a name; where it is a built-in's, that is what ran.
    runs = sa.table("runs", sa.column("strategy", sa.String), sa.column("builtin", sa.String))
    op.execute(runs.update().where(runs.c.strategy.in_(_BUILTINS)).values(builtin=runs.c.strategy))


def downgrade() -> None:
    # A plain ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35): batch mode would rebuild ``runs``, and with foreign keys
    # on, dropping the old table would cascade to every run's artifacts.
    op.drop_column("runs", "builtin")
