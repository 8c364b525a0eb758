'use strict';
// Shared by the suites: a client on the test server (PG* variables), fresh
// queue names, and a wait for a condition with a generous deadline.
const { Client } = require('..');

async function client(options) {
  const c = new Client({ reconnect: { timeout: 10 }, ...options });
  await c.connect();
  return c;
}

async function freshQueue(c, name, options) {
  await c.dropQueue(name, { ifExists: true });
  await c.createQueue(name, options);
  return name;
}

async function until(what, check, seconds = 60) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

module.exports = { client, freshQueue, until, sleep };
