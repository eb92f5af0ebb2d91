"""recurring campaigns: schedules and their fires; room for the awaiting_approval state

Revision ID: 0007
Revises: 0003
Create Date: 2026-12-04 15:50:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'schedules',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('cron', sa.String(length=255), nullable=False),
        sa.Column('tz', sa.String(length=64), nullable=False),
        sa.Column('source', sa.Text(), nullable=False),
        sa.Column('source_headers', sa.JSON(), nullable=True),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('options', sa.JSON(), nullable=False),
        sa.Column('start_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('end_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('misfire', sa.String(length=8), nullable=False),
        sa.Column('grace_seconds', sa.Integer(), nullable=False),
        sa.Column('exclude_days', sa.Integer(), nullable=True),
        sa.Column('require_approval', sa.Boolean(), nullable=False),
        sa.Column('approval_timeout', sa.Integer(), nullable=False),
        sa.Column('paused', sa.Boolean(), nullable=False),
        sa.Column('since', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_fire_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'),
    )
    op.create_table(
        'schedule_fires',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('schedule_id', sa.Integer(), nullable=False),
        sa.Column('fire_time', sa.DateTime(timezone=True), nullable=False),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('covers', sa.Integer(), nullable=False),
        sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('approve_by', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['schedule_id'], ['schedules.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('schedule_id', 'fire_time', name='uq_schedule_fires_time'),
    )
    op.create_index('ix_schedule_fires_schedule_id', 'schedule_fires', ['schedule_id'])
    op.create_index('ix_schedule_fires_campaign_id', 'schedule_fires', ['campaign_id'])
    # 'awaiting_approval' is 17 characters; SQLite does not enforce a VARCHAR's length
    if op.get_bind().dialect.name != 'sqlite':
        op.alter_column('campaigns', 'state', type_=sa.String(length=24), existing_type=sa.String(length=16),
                        existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name != 'sqlite':
        op.alter_column('campaigns', 'state', type_=sa.String(length=16), existing_type=sa.String(length=24),
                        existing_nullable=False)
    op.drop_index('ix_schedule_fires_campaign_id', table_name='schedule_fires')
    op.drop_index('ix_schedule_fires_schedule_id', table_name='schedule_fires')
    op.drop_table('schedule_fires')
    op.drop_table('schedules')
