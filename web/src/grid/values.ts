// How each field type shows in a cell and how typed text becomes a value for the API.
import type { Field } from "../api";

export function display(field: Field, value: unknown): string {
  if (value === null || value === undefined) return "";
  switch (field.type) {
    case "boolean":
      return value ? "✓" : "";
    case "multi_select":
      return Array.isArray(value) ? value.join(", ") : String(value);
    case "json":
      return JSON.stringify(value);
    case "link":
      return Array.isArray(value) ? `${value.length} linked` : "1 linked";
    case "datetime":
      return typeof value === "string" ? value.replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC") : String(value);
    default:
      return typeof value === "object" ? JSON.stringify(value) : String(value);
  }
}

/** The text an editor starts from. */
export function editText(field: Field, value: unknown): string {
  if (value === null || value === undefined) return "";
  if (field.type === "json") return JSON.stringify(value);
  if (field.type === "multi_select" && Array.isArray(value)) return value.join(", ");
  return String(value);
}

export class ParseError extends Error {}

/**
 * Typed text to a JSON value. Only the shape is decided here (number, list, JSON); the
 * server validates everything and its message is what the cell shows.
 */
export function parseText(field: Field, text: string): unknown {
  const t = text.trim();
  if (t === "") return null;
  switch (field.type) {
    case "integer": {
      const n = Number(t);
      return Number.isSafeInteger(n) ? n : t;
    }
    case "decimal":
      // As text, so no digit is lost to a float on the way.
      return t;
    case "boolean":
      return ["true", "yes", "1", "✓", "x"].includes(t.toLowerCase());
    case "multi_select":
      return t.split(",").map((s) => s.trim()).filter(Boolean);
    case "json":
      try {
        return JSON.parse(t);
      } catch {
        throw new ParseError("not valid JSON");
      }
    default:
      return text;
  }
}

/** Whether a field's cells are edited in the grid (links and users have their own views). */
export const editableInGrid = (field: Field) => field.type !== "link" && field.type !== "user";
