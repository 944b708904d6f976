// Checks HTTP exchanges recorded by tests/lib/httpd.sh (call, and the helpers built on it) against the
// OpenAPI document (lib/http/openapi.json), and the document itself against the OpenAPI 3.1 schema.
//
//   node openapi-check.mjs validate DOC           the document against OpenAPI 3.1
//                                                 (@seriousme/openapi-schema-validator)
//   node openapi-check.mjs check DOC LOGDIR...    every exchange of every LOGDIR (*.meta: method TAB
//                                                 path without the query TAB status TAB content type, and
//                                                 the same name .body)
// The modules come from $TSK_OPENAPI_MODULES (the node_modules tests/npm-deps.sh installed).
// Output: one line per finding, "FAIL<TAB>what", then "SUMMARY<TAB>checked<TAB>failed"; exit 0 when
// nothing failed, 1 when something did, 2 on a usage or setup error.
//
// An exchange passes when:
//   - its path is one of the document's (a literal path before a template, "{x}" matching one segment,
//     the first of those with the request's method), its method one of that path's operations (HEAD as GET, with no body to check), and its status one
//     of the operation's responses (or NXX, or default);
//   - its content type (without parameters) is one that response declares, or it has no body and the
//     response declares no content;
//   - a JSON body (application/json, *+json) parses and is valid against the response's schema (JSON
//     Schema 2020-12, formats checked, every error reported).
// The document's x-tsk-unrouted says what a request outside it gets: a path that is not in the document
// answers the 404 of x-tsk-unrouted.notFound; a method a path does not have, the 405 of
// x-tsk-unrouted.methodNotAllowed. Those answers are checked against those responses; any other status
// there fails.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const modules = process.env.TSK_OPENAPI_MODULES;
if (!modules || !fs.existsSync(modules)) {
	console.error('openapi-check: TSK_OPENAPI_MODULES is not the node_modules of tests/openapi');
	process.exit(2);
}
const require = createRequire(path.join(modules, 'tsk-openapi-check.cjs'));
const [cmd, docPath, ...logs] = process.argv.slice(2);
if (!docPath || (cmd !== 'validate' && cmd !== 'check')) {
	console.error('usage: openapi-check.mjs validate DOC | check DOC LOGDIR...');
	process.exit(2);
}
let doc;
try {
	doc = JSON.parse(fs.readFileSync(docPath, 'utf8'));
} catch (e) {
	console.log(`FAIL\t${docPath}: ${e.message}`);
	console.log('SUMMARY\t1\t1');
	process.exit(1);
}

if (cmd === 'validate') {
	const main = require.resolve('@seriousme/openapi-schema-validator');
	const { Validator } = await import(pathToFileURL(main).href);
	const v = new Validator();
	const res = await v.validate(doc);
	let failed = 0;
	if (!res.valid) {
		const errs = Array.isArray(res.errors) ? res.errors : [res.errors];
		for (const e of errs.slice(0, 20)) {
			console.log(`FAIL\t${e.instancePath || '/'} ${e.message || JSON.stringify(e)}${e.params ? ' ' + JSON.stringify(e.params) : ''}`);
			failed++;
		}
		if (failed === 0) failed = 1;
	}
	if (!String(doc.openapi || '').startsWith('3.1.')) {
		console.log(`FAIL\topenapi is ${JSON.stringify(doc.openapi)}, not 3.1.x`);
		failed++;
	}
	console.log(`SUMMARY\t1\t${failed}`);
	process.exit(failed ? 1 : 0);
}

// ---- check ----------------------------------------------------------------------------------------
const Ajv2020 = require('ajv/dist/2020').default;
const addFormats = require('ajv-formats').default;
const DOC_ID = 'https://tsk.invalid/openapi.json';
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
addFormats(ajv);
ajv.addSchema({ ...doc, $id: DOC_ID });

const ptr = (parts) => '#/' + parts.map((p) => String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
const deref = (o, parts) => {
	// A local $ref ("#/components/...") as the document's JSON pointer parts, followed to its target.
	for (let i = 0; o && o.$ref && i < 10; i++) {
		if (!o.$ref.startsWith('#/')) break;
		parts = o.$ref.slice(2).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
		o = parts.reduce((x, k) => (x == null ? undefined : x[k]), doc);
	}
	return [o, parts];
};
const compiled = new Map();
const validator = (parts) => {
	const key = ptr(parts);
	if (!compiled.has(key)) compiled.set(key, ajv.compile({ $ref: DOC_ID + key }));
	return compiled.get(key);
};

// Paths: literal ones first, then templates with more literal segments first.
const templates = Object.keys(doc.paths || {}).map((p) => {
	const names = [];
	const re = new RegExp('^' + p.split(/(\{[^}]+\})/).map((s) => {
		if (/^\{[^}]+\}$/.test(s)) {
			names.push(s);
			return '[^/]+';
		}
		return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
	}).join('') + '$');
	return { p, re, params: names.length };
}).sort((a, b) => a.params - b.params);
// The path for a request: of the document's paths that match it (literal first), the first with the
// method, as the daemon's router does (PUT /api/alerts/rules/statistics/ is a rule's PUT); else the
// first that matches (whose answer is then the 405 of x-tsk-unrouted).
const findPath = (p, m) => {
	const all = templates.filter((t) => t.re.test(p));
	return all.find((t) => doc.paths[t.p][m]) || all[0];
};

const unrouted = doc['x-tsk-unrouted'] || {};
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

// Checks one answer against the response object at parts; returns a list of problems.
function checkResponse(respParts, status, ctype, body, head) {
	const [resp, parts] = deref(respParts.reduce((x, k) => (x == null ? undefined : x[k]), doc), respParts);
	if (!resp) return [`status ${status} is not a response of the operation`];
	if (head) return [];
	const content = resp.content || {};
	const types = Object.keys(content);
	const media = (ctype || '').split(';')[0].trim().toLowerCase();
	if (body.length === 0 && types.length === 0) return [];
	if (types.length === 0) return [`a body (${media || 'no content type'}) where the response declares no content`];
	const key = types.find((t) => t.split(';')[0].trim().toLowerCase() === media);
	if (key === undefined) return [`content type "${ctype}" is not declared (${types.join(', ')})`];
	if (!(media === 'application/json' || media.endsWith('+json'))) return [];
	let value;
	try {
		value = JSON.parse(body.toString('utf8'));
	} catch (e) {
		return [`the body is not JSON: ${e.message}`];
	}
	if (!content[key] || content[key].schema === undefined) return [];
	const v = validator([...parts, 'content', key, 'schema']);
	if (v(value)) return [];
	return v.errors.slice(0, 8).map((e) => `${e.instancePath || '/'} ${e.message}${e.params && Object.keys(e.params).length ? ' ' + JSON.stringify(e.params) : ''}`);
}

function checkExchange(method, p, status, ctype, body) {
	const head = method === 'HEAD';
	const m = head ? 'get' : method.toLowerCase();
	const st = String(status);
	const t = findPath(p, m);
	if (!t) {
		if (st === '404' && unrouted.notFound) return checkResponse(['x-tsk-unrouted', 'notFound'], st, ctype, body, head);
		return [`path ${p} is not in the document`];
	}
	const item = doc.paths[t.p];
	if (!METHODS.includes(m) || !item[m]) {
		if (st === '405' && unrouted.methodNotAllowed) return checkResponse(['x-tsk-unrouted', 'methodNotAllowed'], st, ctype, body, head);
		return [`${method} is not an operation of ${t.p}`];
	}
	const responses = item[m].responses || {};
	const code = responses[st] ? st : responses[st[0] + 'XX'] ? st[0] + 'XX' : responses.default ? 'default' : null;
	if (code === null) return [`status ${st} is not a response of ${method} ${t.p} (${Object.keys(responses).join(', ')})`];
	return checkResponse(['paths', t.p, m, 'responses', code], st, ctype, body, head);
}

let checked = 0;
let failed = 0;
for (const dir of logs) {
	let metas = [];
	try {
		metas = fs.readdirSync(dir).filter((f) => f.endsWith('.meta')).sort();
	} catch (e) {
		console.log(`FAIL\t${dir}: ${e.message}`);
		failed++;
		continue;
	}
	for (const f of metas) {
		const id = f.slice(0, -5);
		const line = fs.readFileSync(path.join(dir, f), 'utf8').replace(/\n$/, '');
		const [method, p, status, ctype = ''] = line.split('\t');
		const bodyFile = path.join(dir, id + '.body');
		const body = fs.existsSync(bodyFile) ? fs.readFileSync(bodyFile) : Buffer.alloc(0);
		checked++;
		let problems;
		if (!/^[1-5][0-9][0-9]$/.test(status || '')) problems = [`no answer (status ${status})`];
		else problems = checkExchange(method, p, status, ctype, body);
		if (problems.length) {
			failed++;
			console.log(`FAIL\t${id} ${method} ${p} ${status}: ${problems.join('; ')}`);
		}
	}
}
console.log(`SUMMARY\t${checked}\t${failed}`);
process.exit(failed ? 1 : 0);
