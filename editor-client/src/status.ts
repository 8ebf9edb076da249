/**
 * The status bar's model: a reducer over what the client sees (launching the server, the server's
 * `paramlens/status` notifications, its `$/progress` work-done reports, failures) and the text, icon and tooltip
 * that state is shown with. Pure, so every transition is unit-tested without VS Code.
 */

export type ServerState = "starting" | "ready" | "disabled" | "error";
export type Phase = "stopped" | "starting" | "ready" | "disabled" | "error" | "unsupported";

/** Params of the server's `paramlens/status` notification (paramlens/server/server.py `status()`). */
export interface StatusParams {
  state: ServerState;
  execution: boolean;
  isolation: string[];
}

export interface StatusModel {
  phase: Phase;
  execution: boolean;
  isolation: string[];
  /** Work-done progress in flight, by token: the title (and latest message) the server reported. */
  progress: Record<string, Activity>;
  interpreter?: string;
  /** Why execution is off, when the client knows (Restricted Mode, the setting). */
  executionOffReason?: string;
  message?: string;
}

export interface Activity {
  title: string;
  message?: string;
}

export type StatusEvent =
  | { type: "launching"; interpreter: string; executionOffReason?: string }
  | { type: "server-status"; params: StatusParams }
  | { type: "progress-begin"; token: string; title: string; message?: string }
  | { type: "progress-report"; token: string; message?: string }
  | { type: "progress-end"; token: string }
  | { type: "failed"; message: string }
  | { type: "unsupported"; interpreter: string; message: string }
  | { type: "stopped" };

export const INITIAL_STATUS: StatusModel = { phase: "stopped", execution: false, isolation: [], progress: {} };

const SERVER_STATES: readonly string[] = ["starting", "ready", "disabled", "error"];

/** Validates a `paramlens/status` payload (it comes from another process); undefined when malformed. */
export function parseStatusParams(raw: unknown): StatusParams | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const value = raw as Record<string, unknown>;
  if (typeof value.state !== "string" || !SERVER_STATES.includes(value.state)) return undefined;
  const isolation = Array.isArray(value.isolation)
    ? value.isolation.filter((layer): layer is string => typeof layer === "string") : [];
  return { state: value.state as ServerState, execution: value.execution === true, isolation };
}

export function reduceStatus(model: StatusModel, event: StatusEvent): StatusModel {
  switch (event.type) {
    case "launching":
      return { phase: "starting", execution: false, isolation: [], progress: {}, interpreter: event.interpreter,
        executionOffReason: event.executionOffReason };
    case "server-status":
      return { ...model, phase: event.params.state, execution: event.params.execution,
        isolation: event.params.isolation, message: undefined };
    case "progress-begin":
      return { ...model, progress: { ...model.progress,
        [event.token]: { title: event.title, message: event.message } } };
    case "progress-report": {
      const activity = model.progress[event.token];
      if (activity === undefined || event.message === undefined) return model;
      return { ...model, progress: { ...model.progress, [event.token]: { ...activity, message: event.message } } };
    }
    case "progress-end": {
      if (!(event.token in model.progress)) return model;
      const progress = { ...model.progress };
      delete progress[event.token];
      return { ...model, progress };
    }
    case "failed":
      return { ...model, phase: "error", progress: {}, message: event.message };
    case "unsupported":
      return { ...model, phase: "unsupported", progress: {}, interpreter: event.interpreter,
        message: event.message };
    case "stopped":
      return { ...INITIAL_STATUS, interpreter: model.interpreter };
  }
}

/** What a user sees; `running` while the server reports work in progress (the torch worker starting). */
export type Display = "starting" | "ready" | "running" | "execution disabled" | "error" | "unsupported Python" | "stopped";

export interface Presentation {
  display: Display;
  text: string;
  tooltip: string;
  /** Whether the item gets the error/warning background colour. */
  severity: "none" | "warning" | "error";
}

export function displayOf(model: StatusModel): Display {
  const busy = Object.keys(model.progress).length > 0;
  switch (model.phase) {
    case "error": return "error";
    case "unsupported": return "unsupported Python";
    case "stopped": return "stopped";
    case "disabled": return busy ? "running" : "execution disabled";
    case "starting": return busy ? "running" : "starting";
    case "ready": return busy ? "running" : model.execution ? "ready" : "execution disabled";
  }
}

const ICONS: Record<Display, string> = {
  "starting": "$(loading~spin)",
  "running": "$(sync~spin)",
  "ready": "$(shield)",
  "execution disabled": "$(circle-slash)",
  "error": "$(error)",
  "unsupported Python": "$(warning)",
  "stopped": "$(debug-stop)",
};

export function present(model: StatusModel): Presentation {
  const display = displayOf(model);
  const layers = model.isolation;
  let text = `${ICONS[display]} ParamLens: ${display}`;
  if (display === "ready" || display === "running") {
    if (model.execution && layers.length > 0) {
      text += ` · ${layers.length} isolation layer${layers.length === 1 ? "" : "s"}`;
    } else if (model.execution && display === "ready") {
      text += " · weaker isolation";
    }
  }
  const lines: string[] = [`ParamLens language server: ${display}`];
  for (const activity of Object.values(model.progress)) {
    lines.push(`Working: ${activity.title}${activity.message ? ` (${activity.message})` : ""}`);
  }
  if (model.message) lines.push(model.message);
  if (model.interpreter) lines.push(`Python: ${model.interpreter}`);
  if (display === "execution disabled") {
    lines.push(model.executionOffReason ?? "Execution is off: static analysis only, no code is run.");
  }
  if (model.execution && (display === "ready" || display === "running")) {
    lines.push(layers.length > 0
      ? `Code runs in a sandbox with these isolation layers: ${layers.join(", ")}`
      : "No isolation layer reported: code runs in a plain subprocess with time and memory limits only.");
  }
  lines.push("Click to show the output.");
  const severity = display === "error" ? "error"
    : display === "unsupported Python" || (display === "ready" && model.execution && layers.length === 0) ? "warning"
      : "none";
  return { display, text, tooltip: lines.join("\n"), severity };
}
