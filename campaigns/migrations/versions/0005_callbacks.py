"""delivery callbacks, incoming messages and the suppression list (issue 11)

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-04 15:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0003'
branch_labels = None
depends_on = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'callback_events',
        sa.Column('id', _BIGINT, nullable=False, autoincrement=True),
        sa.Column('provider', sa.String(length=16), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('event_key', sa.String(length=255), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('deliveries', sa.Integer(), server_default='1', nullable=False),
        sa.Column('applied_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('outcome', sa.String(length=16), nullable=True),
        sa.Column('campaign_id', sa.Integer(), nullable=True),
        sa.Column('recipient_id', _BIGINT, nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('provider', 'event_key', name='uq_callback_events_key'),
    )
    op.create_index(
        'ix_callback_events_pending', 'callback_events', ['id'],
        sqlite_where=sa.text('applied_at IS NULL'), postgresql_where=sa.text('applied_at IS NULL'),
    )
    op.create_table(
        'inbound_messages',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event_id', _BIGINT, nullable=False),
        sa.Column('provider', sa.String(length=16), nullable=False),
        sa.Column('provider_message_id', sa.String(length=64), nullable=True),
        sa.Column('phone', sa.String(length=20), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('to_number', sa.String(length=32), nullable=True),
        sa.Column('reply_to', sa.String(length=64), nullable=True),
        sa.Column('campaign_id', sa.Integer(), nullable=True),
        sa.Column('recipient_id', _BIGINT, nullable=True),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('opted_out', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('event_id'),
    )
    op.create_index('ix_inbound_messages_phone', 'inbound_messages', ['phone'])
    op.create_index('ix_inbound_messages_campaign_id', 'inbound_messages', ['campaign_id'])
    op.create_table(
        'suppressions',
        sa.Column('phone', sa.String(length=20), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('phone'),
    )
    # plain ADD COLUMN (SQLite takes it as well): a nullable column costs no rewrite
    op.add_column('recipients', sa.Column('final_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('campaigns', sa.Column('ignore_suppression', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('campaigns') as batch:
        batch.drop_column('ignore_suppression')
    with op.batch_alter_table('recipients') as batch:
        batch.drop_column('final_at')
    op.drop_table('suppressions')
    op.drop_index('ix_inbound_messages_campaign_id', table_name='inbound_messages')
    op.drop_index('ix_inbound_messages_phone', table_name='inbound_messages')
    op.drop_table('inbound_messages')
    op.drop_index('ix_callback_events_pending', table_name='callback_events')
    op.drop_table('callback_events')
