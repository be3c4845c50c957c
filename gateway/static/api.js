/* The API page (gateway/html/api.html): /openapi.json rendered for people, with nothing
   but this script. Text goes into the page as text nodes only, never as markup. */
"use strict";

const el = (tag, attributes = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
};

const refName = (ref) => ref.split("/").pop();

/** The document's descriptions are Markdown: `code` spans become code, the rest text. */
const inline = (text) =>
  (text || "").split("`").map((part, i) => (i % 2 ? el("code", {}, part) : part));

const CONSTRAINTS = [
  ["minimum", "≥"], ["maximum", "≤"], ["minLength", "length ≥"], ["maxLength", "length ≤"],
  ["pattern", "matching"], ["default", "default"],
];

/** One schema in a line: its type, linked to the schema it refers to, with its limits. */
function describe(schema) {
  if (schema.$ref) {
    const name = refName(schema.$ref);
    return el("a", {href: `#schema-${name}`}, name);
  }
  const span = el("span");
  if (schema.anyOf) {
    schema.anyOf.forEach((part, i) => span.append(...(i ? [" or ", describe(part)] : [describe(part)])));
  } else if (schema.enum) {
    span.append(`one of ${schema.enum.map((v) => JSON.stringify(v)).join(", ")}`);
  } else if (schema.type === "array") {
    span.append("array of ", describe(schema.items || {}));
  } else {
    span.append(schema.type || "any");
    if (schema.format) span.append(` (${schema.format})`);
  }
  const limits = CONSTRAINTS.filter(([key]) => key in schema)
    .map(([key, text]) => `${text} ${JSON.stringify(schema[key])}`);
  if (limits.length) span.append(`, ${limits.join(", ")}`);
  return span;
}

function parameters(operation) {
  const list = el("dl");
  for (const p of operation.parameters || []) {
    const where = p.required ? `${p.in}, required` : p.in;
    list.append(el("dt", {}, el("code", {}, p.name)),
      el("dd", {}, `${where}: `, describe(p.schema), ...(p.description ? [" — ", ...inline(p.description)] : [])));
  }
  return list.childElementCount ? [el("h4", {}, "Parameters"), list] : [];
}

const media = ([type, {schema}]) => [el("code", {}, type), ": ", describe(schema)];

/** What a body may hold, one media type a line. */
function content(body) {
  const entries = Object.entries(body.content || {});
  return el("ul", {}, ...entries.map((entry) => el("li", {}, ...media(entry))));
}

/** An answer's body: on the answer's line when it has one media type. */
function answerContent(response) {
  const entries = Object.entries(response.content || {});
  if (entries.length === 1) return el("span", {}, " — ", ...media(entries[0]));
  return entries.length ? content(response) : null;
}

function requestBody(operation) {
  const body = operation.requestBody;
  if (!body) return [];
  return [el("h4", {}, body.required ? "Body" : "Body (optional)"), content(body)];
}

function responses(operation) {
  const list = el("dl");
  for (const [status, response] of Object.entries(operation.responses)) {
    const headers = Object.keys(response.headers || {});
    list.append(el("dt", {}, status), el("dd", {}, ...inline(response.description),
      headers.length ? ` (header ${headers.join(", ")})` : "",
      answerContent(response)));
  }
  return [el("h4", {}, "Answers"), list];
}

function security(operation) {
  const schemes = (operation.security || []).map((s) => Object.keys(s)[0] || "nothing (guest)");
  return schemes.length ? el("p", {}, "Authorization: ", schemes.join(" or ")) : null;
}

function renderOperation(method, path, operation) {
  const id = operation.operationId;
  const verb = method.toUpperCase();
  return el("section", {class: "operation", id, "data-method": verb, "data-path": path},
    el("h3", {}, el("span", {class: `method method-${method}`}, verb), " ", el("code", {}, path)),
    el("p", {}, ...inline(operation.summary)),
    el("p", {class: "quiet"}, ...inline(operation.description)),
    security(operation),
    ...parameters(operation), ...requestBody(operation), ...responses(operation));
}

function renderSchema(name, schema) {
  const section = el("section", {class: "schema", id: `schema-${name}`}, el("h3", {}, name));
  if (schema.description) section.append(el("p", {class: "quiet"}, ...inline(schema.description)));
  const required = new Set(schema.required || []);
  const fields = el("ul");
  for (const [field, property] of Object.entries(schema.properties || {})) {
    fields.append(el("li", {}, el("code", {}, field), required.has(field) ? " (required)" : "",
      ": ", describe(property)));
  }
  section.append(fields.childElementCount ? fields : describe(schema));
  return section;
}

function render(doc) {
  document.getElementById("title").textContent = `${doc.info.title} ${doc.info.version} API`;
  document.getElementById("description").append(...inline(doc.info.description));
  const main = document.getElementById("operations");
  const contents = el("ul");
  for (const tag of doc.tags.map((t) => t.name)) {
    const group = el("section", {id: `tag-${tag}`}, el("h2", {}, tag));
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        if (!(operation.tags || []).includes(tag)) continue;
        group.append(renderOperation(method, path, operation));
        contents.append(el("li", {}, el("a", {href: `#${operation.operationId}`},
          `${method.toUpperCase()} ${path}`)));
      }
    }
    if (group.childElementCount > 1) main.append(group);
  }
  document.getElementById("contents").append(contents);
  const schemas = document.getElementById("schemas");
  for (const [name, schema] of Object.entries(doc.components.schemas)) {
    schemas.append(renderSchema(name, schema));
  }
  schemas.hidden = false;
}

async function load() {
  const message = document.getElementById("message");
  try {
    const response = await fetch("/openapi.json");
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    render(await response.json());
    message.hidden = true;
  } catch (error) {
    message.textContent = `Could not load /openapi.json: ${error.message}`;
  }
}

load();
