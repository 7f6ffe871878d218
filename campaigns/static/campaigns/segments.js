// The segment editor's rule builder: draws a definition ({"match", "rules"}, campaigns/segments.py)
// as groups of conditions and writes it back as JSON into the form's text box, which stays the one
// source of truth (edited by hand, it redraws the builder). Each change tells the page, whose
// count (htmx) follows. A file, not inline code, so the Content-Security-Policy can refuse those.
"use strict";
(function () {
  const MAX_DEPTH = 3;
  const TEXT_FIELDS = ["email", "first_name", "last_name", "external_id", "timezone", "status"];
  const DATE_FIELDS = ["created_at", "unsubscribed_at"];
  const TEXT_OPS = ["eq", "neq", "contains", "not_contains", "starts_with", "is_set", "is_not_set"];
  const NUMBER_OPS = ["gt", "gte", "lt", "lte"];
  const DATE_OPS = ["before", "after", "within_days", "is_set", "is_not_set"];
  const ENGAGEMENTS = ["opened", "clicked", "was_sent", "bounced", "never_opened"];
  const SCOPES = ["any_campaign", "campaigns", "last_campaigns", "days"];

  let choices, words, box, root, definition;

  function element(tag, attributes, children) {
    const made = document.createElement(tag);
    Object.entries(attributes || {}).forEach(([name, value]) => {
      if (name === "text") made.textContent = value;
      else made.setAttribute(name, value);
    });
    (children || []).forEach((child) => made.appendChild(child));
    return made;
  }

  function select(options, chosen, label, onChange) {
    const menu = element("select", { "aria-label": label });
    options.forEach(([value, text]) => {
      const option = element("option", { value: String(value), text: text });
      if (String(value) === String(chosen)) option.selected = true;
      menu.appendChild(option);
    });
    menu.addEventListener("change", () => onChange(menu.value));
    return menu;
  }

  function input(type, value, label, onChange) {
    const field = element("input", { type: type, "aria-label": label });
    if (type === "number") field.step = "any";
    field.value = value === undefined || value === null ? "" : String(value);
    field.addEventListener("input", () => onChange(field.value));
    return field;
  }

  function button(text, onClick) {
    const made = element("button", { type: "button", class: "cp-segment-button", text: text });
    made.addEventListener("click", onClick);
    return made;
  }

  function changed(redraw) {
    box.value = JSON.stringify(definition, null, 1);
    document.body.dispatchEvent(new CustomEvent("segment-changed"));
    if (redraw) draw();
  }

  // What a rule looks at, as the first menu names it.
  function subject(rule) {
    if ("rules" in rule) return "group";
    if ("list" in rule) return "list";
    if ("engagement" in rule) return "engagement";
    if (typeof rule.field === "string" && rule.field.startsWith(choices.attribute_prefix)) return "attribute";
    return rule.field;
  }

  function fresh(kind) {
    if (kind === "list") return { list: (choices.lists[0] || {}).id || 0, op: "in" };
    if (kind === "engagement") return { engagement: "opened", days: 30 };
    if (kind === "attribute") return { field: choices.attribute_prefix + (choices.attributes[0] || ""), op: "eq", value: "" };
    if (kind === "group") return { match: "any", rules: [fresh("email")] };
    if (kind === "status") return { field: kind, op: "eq", value: choices.statuses[0][0] };
    if (DATE_FIELDS.includes(kind)) return { field: kind, op: "within_days", value: 30 };
    return { field: kind, op: "is_set" }; // Valid as it stands: the marketer picks a comparison.
  }

  function opsOf(kind) {
    if (kind === "status") return ["eq", "neq"];
    if (DATE_FIELDS.includes(kind)) return DATE_OPS;
    if (kind === "attribute") return [...TEXT_OPS, ...NUMBER_OPS, ...DATE_OPS.slice(0, 3)];
    return TEXT_OPS;
  }

  function valueInput(rule) {
    if (rule.op === "is_set" || rule.op === "is_not_set") return null;
    if (rule.field === "status") {
      return select(choices.statuses, rule.value, words.status, (value) => {
        rule.value = value;
        changed(false);
      });
    }
    const typed = (value) => {
      if (rule.op === "within_days") rule.value = parseInt(value, 10) || 0;
      else if (NUMBER_OPS.includes(rule.op) && value !== "" && !isNaN(Number(value))) rule.value = Number(value);
      else rule.value = value;
      changed(false);
    };
    const type = rule.op === "within_days" || NUMBER_OPS.includes(rule.op) ? "number" : rule.op === "before" || rule.op === "after" ? "date" : "text";
    return input(type, rule.value, words.eq, typed);
  }

  // The value a comparison takes, kept from the last one where it still makes sense: a number
  // for within_days and the number comparisons, a date for before/after, text for the rest.
  function valueFor(op, value) {
    if (op === "is_set" || op === "is_not_set") return undefined;
    if (op === "within_days") return Number.isInteger(value) && value > 0 ? value : 30;
    if (NUMBER_OPS.includes(op)) return value !== "" && !isNaN(Number(value)) ? Number(value) : "";
    if (op === "before" || op === "after") return /^\d{4}-\d{2}-\d{2}$/.test(String(value)) ? value : "";
    return value === undefined || value === null ? "" : String(value);
  }

  function fieldParts(rule, kind) {
    const parts = [];
    if (kind === "attribute") {
      const name = input("text", rule.field.slice(choices.attribute_prefix.length), words.attribute_name, (value) => {
        rule.field = choices.attribute_prefix + value.trim();
        changed(false);
      });
      name.setAttribute("list", "segment-attribute-names");
      name.placeholder = words.attribute_name;
      parts.push(name);
    }
    const ops = opsOf(kind);
    if (!ops.includes(rule.op)) rule.op = ops[0];
    parts.push(select(ops.map((op) => [op, words[op]]), rule.op, words.eq, (op) => {
      rule.op = op;
      rule.value = valueFor(op, rule.value);
      if (rule.value === undefined) delete rule.value;
      changed(true);
    }));
    const value = valueInput(rule);
    if (value) parts.push(value);
    return parts;
  }

  function engagementParts(rule) {
    const scope = SCOPES.find((key) => key in rule) || "any_campaign";
    const parts = [
      select(ENGAGEMENTS.map((kind) => [kind, words[kind]]), rule.engagement, words.engagement, (kind) => {
        rule.engagement = kind;
        changed(false);
      }),
      select(SCOPES.map((key) => [key, words[key]]), scope, words.engagement, (key) => {
        SCOPES.forEach((old) => delete rule[old]);
        if (key === "campaigns") rule.campaigns = [(choices.campaigns[0] || {}).id || 0];
        else if (key === "last_campaigns") rule.last_campaigns = 3;
        else if (key === "days") rule.days = 30;
        changed(true);
      }),
    ];
    if (scope === "campaigns") {
      const held = Array.isArray(rule.campaigns) ? rule.campaigns : [];
      const offered = choices.campaigns.map((c) => [c.id, c.name]);
      // Campaigns the builder does not offer (not started, or several at once, as the API may
      // save them) stay as they are, shown by their ids, until another is chosen.
      const shown = held.length === 1 && offered.some(([id]) => id === held[0]);
      if (!shown) offered.unshift(["held", words.campaign_ids + " " + held.join(", ")]);
      parts.push(select(offered, shown ? held[0] : "held", words.campaigns, (id) => {
        if (id !== "held") rule.campaigns = [parseInt(id, 10)];
        changed(false);
      }));
    } else if (scope !== "any_campaign") {
      parts.push(input("number", rule[scope], words[scope], (value) => {
        rule[scope] = parseInt(value, 10) || 0;
        changed(false);
      }));
    }
    return parts;
  }

  function ruleRow(group, index, depth) {
    const rule = group.rules[index];
    const kind = subject(rule);
    if (kind === "group") {
      return element("li", { class: "cp-segment-rule" }, [groupBox(rule, depth + 1, () => {
        group.rules.splice(index, 1);
        changed(true);
      })]);
    }
    const subjects = [...TEXT_FIELDS, ...DATE_FIELDS, "attribute", "list", "engagement"];
    const parts = [select(subjects.map((key) => [key, words[key]]), kind, words.add_rule, (key) => {
      group.rules[index] = fresh(key);
      changed(true);
    })];
    if (kind === "list") {
      parts.push(select([["in", words.in], ["not_in", words.not_in]], rule.op, words.list, (op) => {
        rule.op = op;
        changed(false);
      }));
      parts.push(select(choices.lists.map((l) => [l.id, l.name]), rule.list, words.list, (id) => {
        rule.list = parseInt(id, 10);
        changed(false);
      }));
    } else if (kind === "engagement") {
      parts.push(...engagementParts(rule));
    } else {
      parts.push(...fieldParts(rule, kind));
    }
    parts.push(button(words.remove, () => {
      group.rules.splice(index, 1);
      changed(true);
    }));
    return element("li", { class: "cp-segment-rule" }, parts);
  }

  function groupBox(group, depth, remove) {
    const head = element("p", { class: "cp-segment-head" }, [
      element("span", { text: words.match_before + " " }),
      select([["all", words.all], ["any", words.any]], group.match, words.match_before, (match) => {
        group.match = match;
        changed(false);
      }),
      element("span", { text: " " + words.match_after }),
    ]);
    const rows = element("ol", { class: "cp-segment-rules" }, group.rules.map((_rule, index) => ruleRow(group, index, depth)));
    const actions = [button("+ " + words.add_rule, () => {
      group.rules.push(fresh("email"));
      changed(true);
    })];
    if (depth < MAX_DEPTH) {
      actions.push(button("+ " + words.add_group, () => {
        group.rules.push(fresh("group"));
        changed(true);
      }));
    }
    if (remove) actions.push(button(words.remove, remove));
    return element("div", { class: "cp-segment-group" }, [head, rows, element("p", {}, actions)]);
  }

  function draw() {
    root.replaceChildren(groupBox(definition, 1, null));
  }

  function read() {
    try {
      const parsed = JSON.parse(box.value || "{}");
      if (parsed && typeof parsed === "object" && Array.isArray(parsed.rules)) {
        parsed.match = parsed.match === "any" ? "any" : "all";
        return parsed;
      }
    } catch (error) {
      // Hand-edited JSON that does not parse: the builder waits for it to parse again.
    }
    return null;
  }

  document.addEventListener("DOMContentLoaded", () => {
    box = document.querySelector("[data-segment-definition]");
    const data = document.getElementById("segment-choices");
    if (!box || !data) return;
    choices = JSON.parse(data.textContent);
    words = choices.words;
    root = document.querySelector('[data-builder-for="' + box.id + '"]');
    const names = element("datalist", { id: "segment-attribute-names" }, choices.attributes.map((name) => element("option", { value: name })));
    root.after(names);
    definition = read() || { match: "all", rules: [] };
    if (!definition.rules.length) definition.rules.push(fresh("email"));
    root.hidden = false;
    changed(true); // Written back, drawn, and counted (the first count may have read the JSON before).
    box.addEventListener("input", () => {
      const parsed = read();
      if (parsed) {
        definition = parsed;
        draw();
        document.body.dispatchEvent(new CustomEvent("segment-changed"));
      }
    });
  });
})();
