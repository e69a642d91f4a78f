"""The UID up to which every message handled is also marked on the server, beside the checkpoint: the
checkpoint moves in the transaction that files a message, the keyword follows it

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 19:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('mailbox_state') as batch:
        batch.add_column(sa.Column('flagged_uid', sa.BigInteger(), nullable=False, server_default='0'))
    op.execute("UPDATE mailbox_state SET flagged_uid = last_uid")   # until now, marked before it moved


def downgrade() -> None:
    with op.batch_alter_table('mailbox_state') as batch:
        batch.drop_column('flagged_uid')
