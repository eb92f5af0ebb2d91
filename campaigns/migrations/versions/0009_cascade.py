"""the cascade gateway: a campaign's provider options, and each recipient's channel
outcome (the channel that delivered, the price per channel, the gateway's words)

Revision ID: 0009
Revises: 0003
Create Date: 2026-12-04 16:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0003'
branch_labels = None
depends_on = None

# Nullable columns with no default: adding them rewrites nothing, and ingestion's bulk
# insert (COPY / multi-row INSERT naming its own columns) is unaffected.
_RECIPIENT_COLUMNS = (
    ('channel', lambda: sa.String(length=8)),
    ('price_viber', sa.Float),
    ('price_vk', sa.Float),
    ('price_sms', sa.Float),
    ('channel_states', lambda: sa.String(length=120)),
)


def upgrade() -> None:
    op.add_column('campaigns', sa.Column('provider_options', sa.JSON(), nullable=True))
    for name, kind in _RECIPIENT_COLUMNS:
        op.add_column('recipients', sa.Column(name, kind(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('recipients') as batch:
        for name, _ in reversed(_RECIPIENT_COLUMNS):
            batch.drop_column(name)
    with op.batch_alter_table('campaigns') as batch:
        batch.drop_column('provider_options')
