-- Tidings store schema, version 1. Forward-only: never edit an applied migration (its checksum is
-- recorded and checked at start); change the schema with a new numbered file.

-- One row per persisted notification and audience key. A notification addressed to one audience
-- is one row; the same id in another audience is another row (docs/contract.md §6).
-- Keys and ids are compared byte-wise (COLLATE "C"): they are case-sensitive identifiers, and
-- replay and paging order ties by id the same way on every server whatever its locale.
CREATE TABLE notifications (
  audience_id    text        COLLATE "C" NOT NULL,
  id             text        COLLATE "C" NOT NULL,
  type           text        NOT NULL,
  -- The envelope's body; SQL NULL when it had none. jsonb normalises key order and whitespace,
  -- which JSON does not give meaning to.
  body           jsonb,
  audience_type  smallint    NOT NULL CHECK (audience_type BETWEEN 1 AND 5),
  audience_value text        NOT NULL,
  tenant_id      text,
  producer       text        NOT NULL,
  time_stamp     timestamptz NOT NULL,
  -- metadata.persistedTTL: the row is invisible from this instant on and swept later.
  expires_at     timestamptz NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (audience_id, id)
);

-- Replay and the read API read one audience newest first and stop after the limit: a backward
-- range scan of this index, whatever the audience's size.
CREATE INDEX notifications_replay_idx ON notifications (audience_id, time_stamp DESC, id DESC);

-- The sweeper finds expired rows without scanning the table.
CREATE INDEX notifications_expires_idx ON notifications (expires_at);

-- One user's state of one notification. No row means unread and not deleted.
CREATE TABLE receipts (
  user_id         text        COLLATE "C" NOT NULL,
  audience_id     text        COLLATE "C" NOT NULL,
  notification_id text        COLLATE "C" NOT NULL,
  is_read         boolean     NOT NULL DEFAULT false,
  -- When is_read took its current value (read or unread again); null while never changed.
  read_at         timestamptz,
  -- Final: once true it is never set back.
  is_deleted      boolean     NOT NULL DEFAULT false,
  deleted_at      timestamptz,
  PRIMARY KEY (user_id, audience_id, notification_id),
  FOREIGN KEY (audience_id, notification_id) REFERENCES notifications (audience_id, id) ON DELETE CASCADE
);

-- The cascade from a swept notification finds its receipts by this index instead of a scan.
CREATE INDEX receipts_notification_idx ON receipts (audience_id, notification_id);
