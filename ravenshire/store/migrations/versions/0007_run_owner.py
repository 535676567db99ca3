"""workflow_runs.owner, scheduler_state.owner: host, pid and process start time of the process (crash recovery)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 00:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('workflow_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner', sa.String(length=160), nullable=True))
    with op.batch_alter_table('scheduler_state', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner', sa.String(length=160), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('scheduler_state', schema=None) as batch_op:
        batch_op.drop_column('owner')
    with op.batch_alter_table('workflow_runs', schema=None) as batch_op:
        batch_op.drop_column('owner')
