"""the watched bucket: one row per dropped file, from its claim to its results

Revision ID: 0006
Revises: 0003
Create Date: 2026-12-04 15:45:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'watch_drops',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('claim_key', sa.String(length=64), nullable=False),
        sa.Column('location', sa.String(length=1024), nullable=False),
        sa.Column('path', sa.Text(), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('identity', sa.String(length=255), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=True),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('manifests', sa.JSON(), nullable=True),
        sa.Column('sha256', sa.String(length=64), nullable=True),
        sa.Column('campaign_id', sa.Integer(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('rejects', sa.Integer(), nullable=False),
        sa.Column('result_stem', sa.Text(), nullable=True),
        sa.Column('result_seen', sa.String(length=64), nullable=True),
        sa.Column('holder', sa.String(length=64), nullable=True),
        sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('taken_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('claim_key'),
    )
    op.create_index('ix_watch_drops_location_state', 'watch_drops', ['location', 'state'])
    op.create_index('ix_watch_drops_location_sha', 'watch_drops', ['location', 'sha256'])
    op.create_index('ix_watch_drops_campaign_id', 'watch_drops', ['campaign_id'])


def downgrade() -> None:
    op.drop_index('ix_watch_drops_campaign_id', table_name='watch_drops')
    op.drop_index('ix_watch_drops_location_sha', table_name='watch_drops')
    op.drop_index('ix_watch_drops_location_state', table_name='watch_drops')
    op.drop_table('watch_drops')
