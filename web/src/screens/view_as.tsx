// "View as user": the grid shows exactly the records and fields another user would see (the
// server's simulate endpoint), and "why?" asks the server to explain its decision on one
// record for them, grant by grant and clause by clause.
import { useEffect, useState } from "preact/hooks";
import { get, type RecordOut, type Table, type User } from "../api";
import { ErrorLine, useAction } from "../ui";

interface Member { user_id: string; email: string; display_name: string }

export interface Explanation {
  operation: string;
  exists: boolean;
  allowed: boolean;
  reason: string;
  user: string;
  grants: { source: string; allows_operation: boolean; rule: string | null; clauses: { clause: string; matched: boolean }[]; allows_record: boolean }[];
  visible_fields: string[];
}

export function ViewAs(props: {
  table: Table;
  active: RecordOut | null;
  viewing: { id: string; label: string } | null;
  onView: (user: { id: string; label: string } | null) => void;
  onExplained: (e: Explanation) => void;
}) {
  const [people, setPeople] = useState<{ id: string; label: string }[]>([]);
  const [chosen, setChosen] = useState("");
  const [operation, setOperation] = useState("read");
  const action = useAction();
  useEffect(() => {
    void action.run(async () => {
      try {
        const users = await get<User[]>("/api/v1/users");
        setPeople(users.map((u) => ({ id: u.id, label: `${u.display_name} (${u.email})` })));
      } catch {
        const members = await get<Member[]>(`/api/v1/projects/${props.table.project_id}/members`);
        setPeople(members.map((m) => ({ id: m.user_id, label: `${m.display_name} (${m.email})` })));
      }
    });
  }, [props.table.project_id]);

  const person = people.find((p) => p.id === chosen) ?? null;
  const explain = () =>
    action.run(async () => {
      if (!person || !props.active) return;
      const e = await get<Omit<Explanation, "user">>(
        `/api/v1/tables/${props.table.id}/records/${props.active.id}/explain?user_id=${person.id}&operation=${operation}`,
      );
      props.onExplained({ ...e, user: person.label });
    });

  return (
    <div class="view-as">
      <div class="inline">
        <label>Check access for
          <select name="view_as_user" value={chosen} onChange={(e) => setChosen(e.currentTarget.value)}>
            <option value="">Choose a user</option>
            {people.map((p) => <option key={p.id} value={p.id}>{p.label}</option>)}
          </select>
        </label>
        {props.viewing ? (
          <button type="button" class="secondary" onClick={() => props.onView(null)}>Back to my view</button>
        ) : (
          <button type="button" class="secondary" disabled={!person} onClick={() => person && props.onView(person)}>View as this user</button>
        )}
        <label>Operation
          <select name="explain_operation" value={operation} onChange={(e) => setOperation(e.currentTarget.value)}>
            {["read", "update", "delete"].map((o) => <option key={o} value={o}>{o}</option>)}
          </select>
        </label>
        <button type="button" class="secondary" disabled={!person || !props.active} onClick={() => void explain()}>
          Explain the selected record
        </button>
      </div>
      {props.viewing && (
        <p class="notice info" role="status">Viewing as <strong>{props.viewing.label}</strong>: only the records and fields they may read. Nothing can be changed here.</p>
      )}
      <ErrorLine message={action.message} />
    </div>
  );
}

export function ExplainCard(props: { explanation: Explanation; onClose: () => void }) {
  const e = props.explanation;
  return (
    <div class="card explain" role="region" aria-label="Explanation">
      <p>
        <strong>{e.allowed ? "Allowed" : "Denied"}</strong>: {e.user} {e.allowed ? "may" : "may not"} {e.operation} this record. <span class="muted">{e.reason}</span>
      </p>
      {e.grants.length > 0 && (
        <ul>
          {e.grants.map((g, i) => (
            <li key={i}>
              {g.source}: {g.allows_operation ? `allows ${e.operation}` : `does not allow ${e.operation}`}
              {g.rule ? <> under <code>{g.rule}</code></> : g.allows_operation ? " on every record" : ""}
              {g.clauses.length > 0 && (
                <ul>{g.clauses.map((c, j) => <li key={j}><code>{c.clause}</code> {c.matched ? "matches" : "does not match"}</li>)}</ul>
              )}
            </li>
          ))}
        </ul>
      )}
      {e.allowed && e.visible_fields.length > 0 && <p class="small">Fields they see: {e.visible_fields.join(", ")}</p>}
      <button type="button" class="link" onClick={props.onClose}>Close</button>
    </div>
  );
}
