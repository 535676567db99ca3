"""initial schema: market data, fetch log, validation, versions

Revision ID: 0001
Revises: 
Create Date: 2026-11-24 14:40:24.011259
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('data_versions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sources', sa.Text(), nullable=False),
    sa.Column('is_demo', sa.Boolean(), nullable=False),
    sa.Column('symbols', sa.Text(), nullable=False),
    sa.Column('start_date', sa.Integer(), nullable=True),
    sa.Column('end_date', sa.Integer(), nullable=True),
    sa.Column('n_rows', sa.Integer(), nullable=False),
    sa.Column('label', sa.Text(), nullable=True),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.Column('payload_bytes', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_versions'))
    )
    op.create_table('demo_regimes',
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('date', sa.Integer(), nullable=False),
    sa.Column('regime', sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint('seed', 'date', name=op.f('pk_demo_regimes')),
    sqlite_with_rowid=False
    )
    op.create_table('fetches',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('origin', sa.String(length=32), nullable=False),
    sa.Column('symbols', sa.Text(), nullable=False),
    sa.Column('start_date', sa.Integer(), nullable=True),
    sa.Column('end_date', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('rows_received', sa.Integer(), nullable=False),
    sa.Column('rows_stored', sa.Integer(), nullable=False),
    sa.Column('rows_rejected', sa.Integer(), nullable=False),
    sa.Column('rows_flagged', sa.Integer(), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('report', sa.Text(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fetches'))
    )
    op.create_table('instruments',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('is_demo', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_instruments')),
    sa.UniqueConstraint('symbol', 'source', name=op.f('uq_instruments_symbol'))
    )
    op.create_table('bars',
    sa.Column('instrument_id', sa.Integer(), nullable=False),
    sa.Column('date', sa.Integer(), nullable=False),
    sa.Column('open', sa.Float(), nullable=True),
    sa.Column('high', sa.Float(), nullable=True),
    sa.Column('low', sa.Float(), nullable=True),
    sa.Column('close', sa.Float(), nullable=False),
    sa.Column('adj_close', sa.Float(), nullable=False),
    sa.Column('volume', sa.Float(), nullable=True),
    sa.Column('fetch_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['fetch_id'], ['fetches.id'], name=op.f('fk_bars_fetch_id_fetches')),
    sa.ForeignKeyConstraint(['instrument_id'], ['instruments.id'], name=op.f('fk_bars_instrument_id_instruments')),
    sa.PrimaryKeyConstraint('instrument_id', 'date', name=op.f('pk_bars')),
    sqlite_with_rowid=False
    )
    op.create_table('fetched_ranges',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('instrument_id', sa.Integer(), nullable=False),
    sa.Column('start_date', sa.Integer(), nullable=False),
    sa.Column('end_date', sa.Integer(), nullable=False),
    sa.Column('fetch_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['fetch_id'], ['fetches.id'], name=op.f('fk_fetched_ranges_fetch_id_fetches')),
    sa.ForeignKeyConstraint(['instrument_id'], ['instruments.id'], name=op.f('fk_fetched_ranges_instrument_id_instruments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fetched_ranges'))
    )
    with op.batch_alter_table('fetched_ranges', schema=None) as batch_op:
        batch_op.create_index('ix_fetched_ranges_instrument', ['instrument_id', 'start_date'], unique=False)

    op.create_table('series',
    sa.Column('instrument_id', sa.Integer(), nullable=False),
    sa.Column('n_bars', sa.Integer(), nullable=False),
    sa.Column('first_date', sa.Integer(), nullable=True),
    sa.Column('last_date', sa.Integer(), nullable=True),
    sa.Column('dates', sa.LargeBinary(), nullable=False),
    sa.Column('open', sa.LargeBinary(), nullable=False),
    sa.Column('high', sa.LargeBinary(), nullable=False),
    sa.Column('low', sa.LargeBinary(), nullable=False),
    sa.Column('close', sa.LargeBinary(), nullable=False),
    sa.Column('adj_close', sa.LargeBinary(), nullable=False),
    sa.Column('volume', sa.LargeBinary(), nullable=False),
    sa.Column('fetch_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['fetch_id'], ['fetches.id'], name=op.f('fk_series_fetch_id_fetches')),
    sa.ForeignKeyConstraint(['instrument_id'], ['instruments.id'], name=op.f('fk_series_instrument_id_instruments')),
    sa.PrimaryKeyConstraint('instrument_id', name=op.f('pk_series'))
    )
    op.create_table('validation_issues',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('fetch_id', sa.Integer(), nullable=False),
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('date', sa.Integer(), nullable=True),
    sa.Column('rule', sa.String(length=32), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('open', sa.Float(), nullable=True),
    sa.Column('high', sa.Float(), nullable=True),
    sa.Column('low', sa.Float(), nullable=True),
    sa.Column('close', sa.Float(), nullable=True),
    sa.Column('adj_close', sa.Float(), nullable=True),
    sa.Column('volume', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['fetch_id'], ['fetches.id'], name=op.f('fk_validation_issues_fetch_id_fetches')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_validation_issues'))
    )
    with op.batch_alter_table('validation_issues', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_validation_issues_fetch_id'), ['fetch_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('validation_issues', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_validation_issues_fetch_id'))

    op.drop_table('validation_issues')
    op.drop_table('series')
    with op.batch_alter_table('fetched_ranges', schema=None) as batch_op:
        batch_op.drop_index('ix_fetched_ranges_instrument')

    op.drop_table('fetched_ranges')
    op.drop_table('bars')
    op.drop_table('instruments')
    op.drop_table('fetches')
    op.drop_table('demo_regimes')
    op.drop_table('data_versions')

