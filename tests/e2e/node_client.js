// Drives the official Node.js OVH client (npm `ovh`) against a Textos server, configured only
// with host, port and basePath, as a user of the client would: it always speaks HTTPS and signs
// https:// + host + path without the port. Reads {host, port, appKey, appSecret, consumerKey,
// service, message, tag, description} as JSON from argv[2]; prints one JSON object: what each
// call answered, or {"error", "message"} when the client reported a failure.
'use strict';

const config = JSON.parse(process.argv[2]);
const ovh = require('ovh');

function client(appSecret) {
  return ovh({
    appKey: config.appKey, appSecret: appSecret, consumerKey: config.consumerKey,
    host: config.host, port: config.port, basePath: '/1.0',
  });
}

async function outcome(promise) {
  try {
    return { answer: await promise };
  } catch (failure) {
    return { error: failure.error, message: failure.message };
  }
}

// GET /outgoing?tag= until the job's messages are listed (they are once handed to the carrier), for 15 s at most.
async function outgoing(api, service, ids) {
  const deadline = Date.now() + 15000;
  for (;;) {
    const listed = await api.requestPromised('GET', `/sms/${service}/outgoing`, { tag: config.tag });
    if (ids.every((id) => listed.includes(id)) || Date.now() > deadline) {
      return listed;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function main() {
  const api = client(config.appSecret);
  const s = config.service;
  const results = {};
  results.accounts = await outcome(api.requestPromised('GET', '/sms'));
  results.job = await outcome(api.requestPromised('POST', `/sms/${s}/jobs`, {
    message: config.message, receivers: ['+33612345678'], tag: config.tag, noStopClause: true,
  }));
  results.tagged = await outcome(outgoing(api, s, results.job.answer.ids));
  results.put = await outcome(api.requestPromised('PUT', `/sms/${s}`, { description: config.description }));
  results.account = await outcome(api.requestPromised('GET', `/sms/${s}`));
  results.wrongSecret = await outcome(client(config.appSecret + 'x').requestPromised('GET', '/sms'));
  process.stdout.write(JSON.stringify(results));
}

main().catch((failure) => {
  process.stderr.write(String(failure && failure.stack || failure));
  process.exit(1);
});
