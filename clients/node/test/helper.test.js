// The helper's own tests (node --test): a client written with fetch, as a
// Node integration would call the API, runs a whole job flow and a scenario
// through it, and the journal assertion catches a broken request.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

import { callerOf, fake as reachFake } from '../index.js';

const images = new URL('../../../fixtures/images/', import.meta.url);
let fake;

before(async () => {
  fake = await reachFake();
});
after(() => fake.close());

/** Identity, project, upload, job, status, results; returns the results. */
async function flow(apiUrl, token, instructions) {
  const auth = { Authorization: `Bearer ${token}` };
  const json = { ...auth, 'Content-Type': 'application/json' };
  const form = new FormData();
  form.append('image', new Blob([await readFile(new URL('identity.jpg', images))]), 'identity.jpg');
  form.append('name', 'Model A');
  const identity = await (await fetch(`${apiUrl}/identity/upload`, { method: 'POST', headers: auth, body: form })).json();
  const project = await (await fetch(`${apiUrl}/project`, { method: 'POST', headers: json, body: JSON.stringify({ project_name: 'p' }) })).json();
  const upload = await (await fetch(`${apiUrl}/upload`, { method: 'POST', headers: json, body: JSON.stringify({ project_name: 'p', filename: 'sku-shirt.jpg' }) })).json();
  const put = await fetch(upload.upload_url, { method: 'PUT', headers: { 'Content-Type': upload.content_type }, body: await readFile(new URL('sku-shirt.jpg', images)) });
  assert.ok(put.ok);
  const job = await (await fetch(`${apiUrl}/flat-2-model`, {
    method: 'POST',
    headers: json,
    body: JSON.stringify({ identity_code: identity.identity_code, project_id: project.project_id, images: [upload.file_id], instructions }),
  })).json();
  const status = await (await fetch(`${apiUrl}/jobs/${job.job_id}/status`, { headers: auth })).json();
  assert.equal(status.status, 'completed'); // --time-scale 0: jobs are instant
  return (await fetch(`${apiUrl}/jobs/${job.job_id}/results`, { headers: auth })).json();
}

test('a full job flow runs clean', async () => {
  const t = await fake.newTenant({ jobRateLimit: 0 });
  const results = await flow(t.baseUrl, t.token, [{ pose: 'standing' }, { background: 'white studio' }]);
  assert.equal(results.summary.successful, 2);
  assert.ok((await fetch(results.results[0].output.full_size)).ok);
  await t.journal.assertSent('POST', '/flat-2-model');
  await t.journal.assertSent('GET', '/jobs/{id}/results');
  await t.journal.assertClean();
  await t.reset();
  assert.deepEqual(await t.journal.requests(), []);
});

test('a scenario applies to the block alone', async () => {
  const t = await fake.newTenant();
  const results = await t.scenario('refuse-fallback', () => flow(t.baseUrl, t.token, [{ pose: 'standing' }]));
  assert.equal(results.results[0].model_used, 'seedream');
  assert.equal((await t.settings()).scenario, null);
});

test('assertClean names the request, the field and the body', async () => {
  const t = await fake.newTenant();
  const other = await fake.newTenant();
  await fetch(`${t.baseUrl}/project`, { method: 'POST', headers: { ...t.headers, 'Content-Type': 'application/json' }, body: '{"project_name":5}' });
  await assert.rejects(t.journal.assertClean(), /POST \/project → 400: project_name: 5 is not of type[\s\S]*\{"project_name":5\}/);
  await other.journal.assertClean();
  assert.equal(t.caller, callerOf(t.token));
  const har = await t.journal.har();
  assert.equal(har.log.entries.length, 1);
});

test('the clock moves past an upload URL\'s life', async () => {
  const t = await fake.newTenant();
  const up = await (await fetch(`${t.baseUrl}/upload`, { method: 'POST', headers: { ...t.headers, 'Content-Type': 'application/json' }, body: '{"filename":"a.jpg"}' })).json();
  await t.clock.advance('16m');
  const put = await fetch(up.upload_url, { method: 'PUT', headers: { 'Content-Type': up.content_type }, body: 'x' });
  assert.equal(put.status, 403);
});
