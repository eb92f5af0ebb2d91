"""recipient ids as ranges: id from campaign and source row, chunks by row range

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 03:40:00

A recipient's id becomes campaign_id * 2^32 + (2^31 when valid) + row_number
(campaigns.store.keys) and each chunk records the source rows of its first and last
recipient, so the ``(campaign_id, chunk_seq)`` index and the id sequence go: bulk loads
no longer maintain them. Existing rows are re-keyed; chunks get their rows from the
recipients they hold.
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

_REKEY = (
    "UPDATE recipients SET id = campaign_id * 4294967296"
    " + CASE WHEN verdict = 'valid' THEN 2147483648 ELSE 0 END + row_number"
)


def upgrade() -> None:
    with op.batch_alter_table('chunks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('first_row', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('last_row', sa.Integer(), nullable=True))
    # A chunk without recipients (none is ever written so) gets an empty range.
    op.execute(
        "UPDATE chunks SET"
        " first_row = coalesce((SELECT min(r.row_number) FROM recipients r WHERE r.campaign_id = chunks.campaign_id"
        " AND r.chunk_seq = chunks.seq AND r.verdict = 'valid'), 1),"
        " last_row = coalesce((SELECT max(r.row_number) FROM recipients r WHERE r.campaign_id = chunks.campaign_id"
        " AND r.chunk_seq = chunks.seq AND r.verdict = 'valid'), 0)"
    )
    with op.batch_alter_table('chunks', schema=None) as batch_op:
        batch_op.alter_column('first_row', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('last_row', existing_type=sa.Integer(), nullable=False)
    # Old ids are below 2^32 and new ones above: re-keying never meets a taken id.
    op.execute(_REKEY)
    op.drop_index('ix_recipients_campaign_chunk', table_name='recipients')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("ALTER TABLE recipients ALTER COLUMN id DROP DEFAULT")
        op.execute("DROP SEQUENCE IF EXISTS recipients_id_seq")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("CREATE SEQUENCE recipients_id_seq OWNED BY recipients.id")
        op.execute("SELECT setval('recipients_id_seq', coalesce((SELECT max(id) FROM recipients), 0) + 1, false)")
        op.execute("ALTER TABLE recipients ALTER COLUMN id SET DEFAULT nextval('recipients_id_seq')")
    op.create_index('ix_recipients_campaign_chunk', 'recipients', ['campaign_id', 'chunk_seq'], unique=False)
    with op.batch_alter_table('chunks', schema=None) as batch_op:
        batch_op.drop_column('last_row')
        batch_op.drop_column('first_row')
