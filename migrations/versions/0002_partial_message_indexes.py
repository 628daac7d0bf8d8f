"""messages: partial indexes for the hot paths

The inbound rows waiting for a turn (`ix_messages_inbox`), the sends to make
(`ix_messages_outbox`) and the rate limit's inbound rows by phone replace the
(direction, status) and (phone, created_at) indexes over every row; replies and
broadcasts are indexed only where the column is set, USSD sessions by their inbound
rows. Each step's writes touch
fewer indexes, and the indexes the hot reads use stay small.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07 05:05:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

_PARTIAL = (
    ("ix_messages_inbound_phone", ["phone", "created_at"], "direction = 'in'"),
    ("ix_messages_inbox", ["contact_id", "id"], "direction = 'in' AND status = 'received'"),
    ("ix_messages_outbox", ["status", "id"], "direction = 'out' AND status IN ('queued', 'sending', 'retrying')"),
    ("ix_messages_reply_to_id", ["reply_to_id"], "reply_to_id IS NOT NULL"),
    ("ix_messages_broadcast_id", ["broadcast_id"], "broadcast_id IS NOT NULL"),
    ("ix_messages_ussd_session_id", ["ussd_session_id"], "direction = 'in' AND ussd_session_id IS NOT NULL"),
)


def upgrade() -> None:
    for name in ("ix_messages_status", "ix_messages_phone_created", "ix_messages_reply_to_id",
                 "ix_messages_broadcast_id", "ix_messages_ussd_session_id"):
        op.drop_index(name, table_name="messages")
    for name, columns, where in _PARTIAL:
        op.create_index(name, "messages", columns, unique=False,
                        postgresql_where=sa.text(where), sqlite_where=sa.text(where))


def downgrade() -> None:
    for name, _columns, _where in _PARTIAL:
        op.drop_index(name, table_name="messages")
    op.create_index("ix_messages_status", "messages", ["direction", "status"], unique=False)
    op.create_index("ix_messages_phone_created", "messages", ["phone", "created_at"], unique=False)
    op.create_index("ix_messages_reply_to_id", "messages", ["reply_to_id"], unique=False)
    op.create_index("ix_messages_broadcast_id", "messages", ["broadcast_id"], unique=False)
    op.create_index("ix_messages_ussd_session_id", "messages", ["ussd_session_id"], unique=False)
