"""When each message reached the board's server (time limits count from it), beside when mailbot read it

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 12:00:00
"""
import sqlalchemy as sa
from alembic import op

import mailbot.storage.models

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('inbound_messages') as batch:
        batch.add_column(sa.Column('arrived_at', mailbot.storage.models.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column('arrival_note', sa.String(300), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('inbound_messages') as batch:
        batch.drop_column('arrival_note')
        batch.drop_column('arrived_at')
