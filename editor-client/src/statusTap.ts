/**
 * Watches the messages the server sends, before the language client handles them, for the two that drive the
 * status bar: the custom `paramlens/status` notification and `$/progress` (work-done progress while the torch
 * worker starts). `$/progress` cannot be subscribed to a second time through the client (its progress UI already
 * owns the token), so this is a jsonrpc message strategy that observes and always passes every message on.
 */
import { parseStatusParams, StatusEvent } from "./status";

export const STATUS_NOTIFICATION = "paramlens/status";
const PROGRESS_NOTIFICATION = "$/progress";

/** The shape of a jsonrpc message that this module reads (structurally compatible with vscode-jsonrpc's). */
export interface RawMessage {
  jsonrpc: string;
  method?: string;
  params?: unknown;
  id?: unknown;
}

export interface MessageTap {
  handleMessage(message: RawMessage, next: (message: RawMessage) => void): void;
}

function isNotification(message: RawMessage): boolean {
  return typeof message.method === "string" && message.id === undefined;
}

/** The status event a message means, if any. */
export function statusEventOf(message: RawMessage): StatusEvent | undefined {
  if (!isNotification(message)) return undefined;
  if (message.method === STATUS_NOTIFICATION) {
    const params = parseStatusParams(message.params);
    return params ? { type: "server-status", params } : undefined;
  }
  if (message.method !== PROGRESS_NOTIFICATION || typeof message.params !== "object" || message.params === null) {
    return undefined;
  }
  const { token, value } = message.params as { token?: unknown; value?: unknown };
  if ((typeof token !== "string" && typeof token !== "number") || typeof value !== "object" || value === null) {
    return undefined;
  }
  const key = String(token);
  const progress = value as { kind?: unknown; title?: unknown; message?: unknown };
  const text = typeof progress.message === "string" ? progress.message : undefined;
  switch (progress.kind) {
    case "begin":
      return { type: "progress-begin", token: key, title: typeof progress.title === "string" ? progress.title : "",
        message: text };
    case "report":
      return { type: "progress-report", token: key, message: text };
    case "end":
      return { type: "progress-end", token: key };
    default:
      return undefined;
  }
}

export function statusTap(listener: (event: StatusEvent) => void): MessageTap {
  return {
    handleMessage(message, next) {
      try {
        const event = statusEventOf(message);
        if (event) listener(event);
      } catch {
        // the status bar must never break the connection: the message is handled all the same
      }
      next(message);
    },
  };
}
