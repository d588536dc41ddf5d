// The tenant's edge: which addresses may connect, which origins may call the API from a
// browser, and the request budgets (never above the instance's ceiling).
import { useEffect, useState } from "preact/hooks";
import { ApiProblem, get, patch } from "../api";
import { ErrorLine, useAction, useRecentAuth } from "../ui";

interface Budget { per_minute: number; burst: number }
type BudgetName = "login_per_ip" | "data_per_ip" | "data_per_account" | "data_per_token";
interface Edge {
  ip_allow: string[]; ip_deny: string[]; cors_origins: string[];
  rate_limits: Record<BudgetName, Budget>; rate_limits_customized: boolean; rate_limits_ceiling: Record<BudgetName, Budget>;
}
const BUDGETS: { name: BudgetName; label: string }[] = [
  { name: "login_per_ip", label: "Sign-in attempts per address" },
  { name: "data_per_ip", label: "Requests per address" },
  { name: "data_per_account", label: "Requests per account" },
  { name: "data_per_token", label: "Requests per API token" },
];
const lines = (text: string) => text.split("\n").map((l) => l.trim()).filter(Boolean);

export function Network() {
  const [edge, setEdge] = useState<Edge | null>(null);
  const [text, setText] = useState({ allow: "", deny: "", cors: "" });
  const [limits, setLimits] = useState<Record<BudgetName, Budget> | null>(null);
  const action = useAction();
  const { guard, prompt } = useRecentAuth();
  const show = (e: Edge) => {
    setEdge(e);
    setText({ allow: e.ip_allow.join("\n"), deny: e.ip_deny.join("\n"), cors: e.cors_origins.join("\n") });
    setLimits(e.rate_limits);
  };
  useEffect(() => void action.run(async () => show(await get<Edge>("/api/v1/settings/edge"))), []);
  if (!edge || !limits) return <ErrorLine message={action.message} />;
  const problem = action.error instanceof ApiProblem ? action.error : null;
  const at = (path: string) => problem?.errors.filter((e) => e.field.startsWith(path)).map((e) => e.message).join("; ");
  const save = (e: Event) => {
    e.preventDefault();
    void action.run(() => guard(async () => show(await patch<Edge>("/api/v1/settings/edge", {
      ip_allow: lines(text.allow), ip_deny: lines(text.deny), cors_origins: lines(text.cors), rate_limits: limits,
    }))));
  };
  return (
    <form class="card" onSubmit={save} aria-label="Network and limits">
      <h2>Network and limits</h2>
      <div class="inline">
        <label>Allowed networks (one per line; empty: any)
          <textarea name="ip_allow" rows={3} value={text.allow} onInput={(e) => setText({ ...text, allow: e.currentTarget.value })} />
          {at("ip_allow") && <span class="error" role="alert">{at("ip_allow")}</span>}
        </label>
        <label>Refused networks
          <textarea name="ip_deny" rows={3} value={text.deny} onInput={(e) => setText({ ...text, deny: e.currentTarget.value })} />
          {at("ip_deny") && <span class="error" role="alert">{at("ip_deny")}</span>}
        </label>
        <label>Browser origins allowed to call the API (CORS)
          <textarea name="cors_origins" rows={3} value={text.cors} onInput={(e) => setText({ ...text, cors: e.currentTarget.value })} />
          {at("cors_origins") && <span class="error" role="alert">{at("cors_origins")}</span>}
        </label>
      </div>
      <table class="plain">
        <thead><tr><th>Budget</th><th>Per minute</th><th>Burst</th><th>Instance ceiling</th></tr></thead>
        <tbody>
          {BUDGETS.map((b) => (
            <tr key={b.name}>
              <td>{b.label}</td>
              {(["per_minute", "burst"] as const).map((k) => (
                <td key={k}>
                  <input type="number" min={1} aria-label={`${b.label}, ${k.replace("_", " ")}`} value={String(limits[b.name][k])}
                    onInput={(e) => setLimits({ ...limits, [b.name]: { ...limits[b.name], [k]: Number(e.currentTarget.value) } })} />
                </td>
              ))}
              <td class="muted">{edge.rate_limits_ceiling[b.name].per_minute} / min, burst {edge.rate_limits_ceiling[b.name].burst}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {at("rate_limits") && <p class="error" role="alert">{at("rate_limits")}</p>}
      <ErrorLine message={problem && problem.errors.length ? null : action.message} />
      <button type="submit" disabled={action.busy}>Save network settings</button>
      {prompt}
    </form>
  );
}
