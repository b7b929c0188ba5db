/** Targets of the events the server sends when a user's read state changes (docs/contract.md §4). */
export const HubEvents = {
  ReadStatusChange: "EventReadStatusChange",
  DeletedStatusChange: "EventDeletedStatusChange",
} as const;

export type HubEventName = (typeof HubEvents)[keyof typeof HubEvents];

/** Argument of `EventReadStatusChange`, sent to every connection of the user, keys in this order. */
export interface ReadStatusChangeEvent {
  /** The notification id. */
  eventId: string;
  audienceId: string;
  isRead: boolean;
  /** ISO-8601 UTC with `Z`. */
  changedAt: string;
}

/** Argument of `EventDeletedStatusChange`, sent to every connection of the user, keys in this order. */
export interface DeletedStatusChangeEvent {
  /** The notification id. */
  eventId: string;
  audienceId: string;
  /** Always true: deletion is final. */
  isDeleted: true;
  /** ISO-8601 UTC with `Z`. */
  changedAt: string;
}
