"""hostile mail: intake attempts (the poison-message guard), answers counted per correspondent, files'
original names, inbound bodies' fingerprints (repeated auto-replies)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 19:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'intake_attempts',
        sa.Column('agency', sa.String(length=64), sa.ForeignKey('agencies.slug'), primary_key=True),
        sa.Column('raw_sha256', sa.String(length=64), primary_key=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=False),
        sa.Column('problem', sa.Text(), nullable=False, server_default=''),
    )
    with op.batch_alter_table('outbox') as batch:
        # The correspondent an automatic answer goes to (the sender of the mail it answers), for the daily cap.
        batch.add_column(sa.Column('answer_to', sa.String(length=320), nullable=True))
        batch.create_index('ix_outbox_answer_to', ['agency', 'answer_to', 'created_at'])
    with op.batch_alter_table('inbound_messages') as batch:
        # The sha256 of the message's own new text, normalised: the same text again and again is a responder.
        batch.add_column(sa.Column('body_sha256', sa.String(length=64), nullable=True))
        batch.create_index('ix_inbound_sender', ['agency', 'from_addr', 'received_at'])
    with op.batch_alter_table('attachments') as batch:
        # The name as sent, where control or bidi characters had to be taken out of it.
        batch.add_column(sa.Column('original_name', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('attachments') as batch:
        batch.drop_column('original_name')
    with op.batch_alter_table('inbound_messages') as batch:
        batch.drop_index('ix_inbound_sender')
        batch.drop_column('body_sha256')
    with op.batch_alter_table('outbox') as batch:
        batch.drop_index('ix_outbox_answer_to')
        batch.drop_column('answer_to')
    op.drop_table('intake_attempts')
