"""agents: cycles keyed by (kind, business date), the message bus, agent status, regime readings, clusters, models

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 21:08:33.751637
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The drawdown when a kill-switch event was recorded: a person clearing an automatic halt while the drawdown is
    # still past the limit disarms the automatic halt until it recovers.
    with op.batch_alter_table('kill_switch_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('drawdown', sa.Float(), nullable=True))
    # Exposures are fractions of equity: undefined (NULL) when equity is not positive, and the snapshot that
    # records such a day (and sets the drawdown halt) must still be written.
    with op.batch_alter_table('equity_snapshots', schema=None) as batch_op:
        batch_op.alter_column('gross_exposure', existing_type=sa.Float(), nullable=True)
        batch_op.alter_column('net_exposure', existing_type=sa.Float(), nullable=True)
    op.create_table('cycles',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('business_date', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('data_version', sa.String(length=64), nullable=True),
    sa.Column('config_hash', sa.String(length=64), nullable=True),
    sa.Column('is_demo', sa.Boolean(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('duration_s', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['data_version'], ['data_versions.id'], name=op.f('fk_cycles_data_version_data_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cycles')),
    sa.UniqueConstraint('kind', 'business_date', name=op.f('uq_cycles_kind'))
    )
    op.create_table('models',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('state', sa.Text(), nullable=False),
    sa.Column('train_start', sa.Integer(), nullable=True),
    sa.Column('train_end', sa.Integer(), nullable=True),
    sa.Column('data_version', sa.String(length=64), nullable=True),
    sa.Column('fitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['data_version'], ['data_versions.id'], name=op.f('fk_models_data_version_data_versions')),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_models'))
    )
    op.create_table('agent_messages',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('cycle_id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('sender', sa.String(length=32), nullable=False),
    sa.Column('receiver', sa.String(length=32), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['cycle_id'], ['cycles.id'], name=op.f('fk_agent_messages_cycle_id_cycles')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_messages')),
    sa.UniqueConstraint('cycle_id', 'seq', name=op.f('uq_agent_messages_cycle_id'))
    )
    op.create_table('agent_status',
    sa.Column('agent', sa.String(length=32), nullable=False),
    sa.Column('last_cycle_id', sa.String(length=64), nullable=True),
    sa.Column('last_run_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('recommendation', sa.String(length=64), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.Column('duration_s', sa.Float(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['last_cycle_id'], ['cycles.id'], name=op.f('fk_agent_status_last_cycle_id_cycles')),
    sa.PrimaryKeyConstraint('agent', name=op.f('pk_agent_status'))
    )
    op.create_table('asset_clusters',
    sa.Column('cycle_id', sa.String(length=64), nullable=False),
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('cluster', sa.Integer(), nullable=False),
    sa.Column('x', sa.Float(), nullable=False),
    sa.Column('y', sa.Float(), nullable=False),
    sa.Column('z', sa.Float(), nullable=False),
    sa.Column('features', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['cycle_id'], ['cycles.id'], name=op.f('fk_asset_clusters_cycle_id_cycles')),
    sa.PrimaryKeyConstraint('cycle_id', 'symbol', name=op.f('pk_asset_clusters'))
    )
    op.create_table('regime_readings',
    sa.Column('date', sa.Integer(), nullable=False),
    sa.Column('model', sa.String(length=32), nullable=False),
    sa.Column('regime', sa.String(length=16), nullable=False),
    sa.Column('probabilities', sa.Text(), nullable=False),
    sa.Column('cycle_id', sa.String(length=64), nullable=True),
    sa.Column('is_demo', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['cycle_id'], ['cycles.id'], name=op.f('fk_regime_readings_cycle_id_cycles')),
    sa.PrimaryKeyConstraint('date', 'model', name=op.f('pk_regime_readings'))
    )


def downgrade() -> None:
    with op.batch_alter_table('equity_snapshots', schema=None) as batch_op:
        batch_op.alter_column('gross_exposure', existing_type=sa.Float(), nullable=False)
        batch_op.alter_column('net_exposure', existing_type=sa.Float(), nullable=False)
    op.drop_column('kill_switch_events', 'drawdown')
    op.drop_table('regime_readings')
    op.drop_table('asset_clusters')
    op.drop_table('agent_status')
    op.drop_table('agent_messages')
    op.drop_table('models')
    op.drop_table('cycles')
