// The service as Node users meet it: Stripe's official stripe-node against `python -m local_gateway run`,
// pointed at it only through the Stripe constructor's host/port/protocol options.
//
// Run by tests/e2e/test_stripe_node.py, which starts the service and passes it in the environment:
//   PORTAL_BASE_URL, PORTAL_API_KEY, PORTAL_URL (the portal visits are handed to),
//   PORTAL_RESTRICTED_KEY (an rk_test_ key), PORTAL_LIVE_KEY (an sk_live_ key),
//   PORTAL_NODE_SAMPLES (a file to write the objects the SDK received, for the Python side to check against
//   Stripe's published schemas).
// `node --test tests/e2e/node/stripe_node_e2e.mjs` runs it by hand against a running `make run` with those set.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';

import Stripe from 'stripe';

function setting(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this through tests/e2e/test_stripe_node.py`);
  return value;
}

const BASE_URL = new URL(setting('PORTAL_BASE_URL'));
const API_KEY = setting('PORTAL_API_KEY');
const PORTAL_URL = setting('PORTAL_URL');
const RESTRICTED_KEY = setting('PORTAL_RESTRICTED_KEY');
const LIVE_KEY = setting('PORTAL_LIVE_KEY');
const SAMPLES_PATH = setting('PORTAL_NODE_SAMPLES');

const SDK_API_VERSION = '2026-10-28.endive'; // what stripe-node 23 pins
const OLDER_API_VERSION = '2026-07-29.dahlia'; // the reference spec's version
const RETURN_URL = 'https://example.com/account';
const REQUEST_ID = /^req_[A-Za-z0-9]{14}$/;
const SESSION_ID = /^bps_[A-Za-z0-9]{43}$/;  // the URL token's hash in base62
const CONFIGURATION_ID = /^bpc_[A-Za-z0-9]+$/;
const RUN = randomBytes(6).toString('hex'); // keeps this run's customers and configurations apart from others'

// The objects the SDK built, keyed by a name, with the Stripe schema component each must satisfy.
const samples = [];
function sample(name, component, object) {
  samples.push({ name, component, object: JSON.parse(JSON.stringify(object)) });
  return object;
}
function errorSample(name, error) {
  // The SDK adds headers, statusCode and requestId to the error body it received; the rest is the body's `error`.
  const { headers, statusCode, requestId, ...body } = error.raw;
  return sample(name, 'error', { error: body });
}
after(() => writeFileSync(SAMPLES_PATH, JSON.stringify(samples, null, 1)));

function client(apiKey = API_KEY, options = {}) {
  // Only the API base changes; no retries unless a test asks, so every answer seen is the first one.
  return new Stripe(apiKey, {
    host: BASE_URL.hostname,
    port: Number(BASE_URL.port),
    protocol: BASE_URL.protocol.replace(':', ''),
    maxNetworkRetries: 0,
    ...options,
  });
}
const stripe = client();

function customer(label) {
  return `cus_node_${label}_${RUN}`;
}

async function createSession(params = {}, options = {}, sdk = stripe) {
  return sdk.billingPortal.sessions.create({ customer: customer('default'), return_url: RETURN_URL, ...params }, options);
}

async function rejection(promise) {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('the call was expected to be refused');
}

function assertStripeError(error, ErrorClass, { status, code, param }) {
  assert.ok(error instanceof ErrorClass, `expected ${ErrorClass.name}, got ${error?.constructor?.name}: ${error}`);
  assert.ok(error instanceof Stripe.errors.StripeError);
  assert.equal(error.statusCode, status, error.message);
  assert.equal(error.code, code, error.message);
  assert.equal(error.param, param, error.message);
  assert.match(error.requestId, REQUEST_ID);
}

function decodeJwtClaims(jwt) {
  const parts = jwt.split('.');
  assert.equal(parts.length, 3, `not a JWT: ${jwt}`);
  return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
}

// A browser's visit to the session URL: the 302 (not followed), its Location and the hand-off claims.
async function visit(url, portalUrl = PORTAL_URL) {
  const response = await fetch(url, { redirect: 'manual' });
  assert.equal(response.status, 302, await response.text());
  const location = response.headers.get('location');
  assert.ok(location.startsWith(portalUrl + '?'), location);
  const handoff = new URL(location).searchParams.get('handoff');
  assert.ok(handoff, `no hand-off in ${location}`);
  return { response, location, handoff, claims: decodeJwtClaims(handoff) };
}

function portalPageFields(page) {
  return Object.fromEntries([...page.matchAll(/<td id='(\w+)'>([^<]*)<\/td>/g)].map((m) => [m[1], m[2]]));
}

async function withSubscriptionUpdates(sdk = stripe) {
  return sdk.billingPortal.configurations.create({
    features: {
      subscription_update: {
        enabled: true,
        default_allowed_updates: ['price', 'quantity'],
        products: [{ product: 'prod_Node', prices: ['price_NodeA', 'price_NodeB'] }],
        proration_behavior: 'create_prorations',
      },
      subscription_cancel: { enabled: true, cancellation_reason: { enabled: true, options: ['too_expensive', 'other'] } },
    },
    metadata: { run: RUN },
  });
}

describe('the SDK and its API version', () => {
  test('stripe-node pins 2026-10-28.endive, sends it and keys every POST; the service echoes the key', async () => {
    const sdk = client();
    const requests = [];
    sdk.on('request', (event) => requests.push(event));

    const session = await createSession({ customer: customer('version') }, {}, sdk);

    assert.equal(Stripe.API_VERSION, SDK_API_VERSION);
    assert.equal(requests.length, 1);
    assert.equal(requests[0].api_version, SDK_API_VERSION);
    assert.match(requests[0].idempotency_key, /^stripe-node-retry-/);
    assert.equal(session.lastResponse.idempotencyKey, requests[0].idempotency_key);
    assert.equal(session.lastResponse.apiVersion, SDK_API_VERSION, 'the answer names its version');
    assert.ok('after_expiration' in session, 'the SDK version shows after_expiration');
  });
});

describe('sessions', () => {
  test('create returns a billing_portal.session the SDK reads', async () => {
    const session = sample('session', 'billing_portal.session', await createSession({ locale: 'fr' }));

    assert.match(session.id, SESSION_ID);
    assert.equal(session.object, 'billing_portal.session');
    assert.ok(session.url.startsWith(`${BASE_URL.origin}/p/session/`), session.url);
    assert.equal(session.url.split('/').at(-1).length, 43);
    assert.equal(session.customer, customer('default'));
    assert.equal(session.return_url, RETURN_URL);
    assert.equal(session.livemode, false);
    assert.equal(session.configuration, 'bpc_DefaultTestConfiguration');
    assert.equal(session.locale, 'fr');
    assert.equal(session.flow, null);
    assert.equal(session.after_expiration, null);
    assert.ok(Math.abs(session.created - Date.now() / 1000) < 60, `created ${session.created}`);
    assert.equal(session.lastResponse.statusCode, 200);
    assert.match(session.lastResponse.requestId, REQUEST_ID);
  });

  test('nested flow_data is form-encoded by the SDK and comes back as Stripe shows it', async () => {
    const session = await createSession({
      flow_data: {
        type: 'subscription_cancel',
        subscription_cancel: { subscription: 'sub_Node', retention: { type: 'coupon_offer', coupon_offer: { coupon: 'SAVE10' } } },
        after_completion: { type: 'redirect', redirect: { return_url: 'https://example.com/cancelled?a=1&b=2' } },
      },
    });
    sample('session with a cancel flow', 'billing_portal.session', session);

    assert.deepEqual(session.flow, {
      after_completion: {
        hosted_confirmation: null,
        redirect: { return_url: 'https://example.com/cancelled?a=1&b=2' },
        type: 'redirect',
      },
      customer_update: null,
      subscription_cancel: { retention: { coupon_offer: { coupon: 'SAVE10' }, type: 'coupon_offer' }, subscription: 'sub_Node' },
      subscription_pause: null,
      subscription_update: null,
      subscription_update_confirm: null,
      type: 'subscription_cancel',
    });
  });

  test('arrays of hashes (items[0][…], discounts[0][…]) and expand[] reach the service', async () => {
    const configuration = await withSubscriptionUpdates();

    const session = await createSession({
      configuration: configuration.id,
      expand: ['configuration', 'flow'],
      flow_data: {
        type: 'subscription_update_confirm',
        subscription_update_confirm: {
          subscription: 'sub_Node',
          items: [{ id: 'si_Node', price: 'price_NodeB', quantity: 3 }],
          discounts: [{ coupon: 'WELCOME' }],
        },
        after_completion: { type: 'hosted_confirmation', hosted_confirmation: { custom_message: 'Thanks, ü & 🎉' } },
      },
    });
    sample('session with a confirm flow, expanded', 'billing_portal.session', session);
    sample('expanded configuration', 'billing_portal.configuration', session.configuration);

    assert.equal(session.configuration.object, 'billing_portal.configuration');
    assert.equal(session.configuration.id, configuration.id);
    assert.deepEqual(session.configuration.features.subscription_update.products, [
      { adjustable_quantity: { enabled: false, maximum: null, minimum: 1 }, prices: ['price_NodeA', 'price_NodeB'], product: 'prod_Node' },
    ]);
    assert.deepEqual(session.flow.subscription_update_confirm, {
      discounts: [{ coupon: 'WELCOME', promotion_code: null }],
      items: [{ id: 'si_Node', price: 'price_NodeB', quantity: 3 }],
      subscription: 'sub_Node',
    });
    assert.deepEqual(session.flow.after_completion.hosted_confirmation, { custom_message: 'Thanks, ü & 🎉' });
  });

  test('a Date parameter is sent as unix time (after_expiration[customer_login][expires_at])', async () => {
    const deadline = new Date(Date.now() + 86_400_000);

    const session = await createSession({ after_expiration: { type: 'customer_login', customer_login: { expires_at: deadline } } });

    assert.deepEqual(session.after_expiration, {
      customer_login: { expires_at: Math.floor(deadline.getTime() / 1000) },
      type: 'customer_login',
    });
  });

  test('a Stripe-Account (stripeAccount option) is refused, not ignored', async () => {
    const error = await rejection(createSession({}, { stripeAccount: 'acct_Node' }));

    assertStripeError(error, Stripe.errors.StripeInvalidRequestError, { status: 400, code: undefined, param: undefined });
    assert.match(error.message, /Stripe-Account/);
  });
});

describe('the session url', () => {
  test('hands the customer over to the portal with a signed hand-off', async () => {
    const session = await createSession({
      customer: customer('visit'),
      locale: 'de',
      flow_data: { type: 'subscription_cancel', subscription_cancel: { subscription: 'sub_Visit' } },
    });

    const { response, location, claims } = await visit(session.url);
    const portal = await fetch(location, { redirect: 'manual' });

    assert.match(response.headers.get('request-id'), REQUEST_ID);
    assert.equal(response.headers.get('cache-control'), 'no-store');
    assert.equal(response.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(claims.sid, session.id);
    assert.equal(claims.customer, customer('visit'));
    assert.equal(claims.aud, 'billing_portal_test');  // a test-mode hand-off: live portals refuse it
    assert.equal(claims.livemode, false);
    assert.equal(claims.flow.type, 'subscription_cancel');
    assert.ok(claims.exp - claims.iat <= 60, `hand-off lives ${claims.exp - claims.iat} s`);
    assert.ok(!location.includes(session.url.split('/').at(-1)), 'the URL token is not in the hand-off');
    assert.equal(portal.status, 200);
    assert.deepEqual(portalPageFields(await portal.text()), {
      customer: customer('visit'),
      session: session.id,
      mode: 'test',
      flow: 'subscription_cancel',
      locale: 'de',
    });
  });

  test('a second visit hands over again with a fresh hand-off; HEAD does not count as a visit', async () => {
    const session = await createSession({ customer: customer('revisit') });

    const head = await fetch(session.url, { method: 'HEAD', redirect: 'manual' });
    const unvisited = await stripe.rawRequest('GET', `/v1/billing_portal/sessions/${session.id}`);
    const first = await visit(session.url);
    const second = await visit(session.url);
    const visited = await stripe.rawRequest('GET', `/v1/billing_portal/sessions/${session.id}`);

    assert.equal(head.status, 200);
    assert.equal(head.headers.get('location'), null);
    assert.equal(unvisited.status, 'open');
    assert.notEqual(second.handoff, first.handoff);
    assert.notEqual(second.claims.jti, first.claims.jti);
    assert.equal(second.claims.sid, session.id);
    assert.equal(visited.status, 'visited');
    assert.equal(typeof visited.visited_at, 'number');
  });
});

describe('session extensions through rawRequest', () => {
  test('retrieve, list by customer and expire; an expired URL answers 410', async () => {
    const owner = customer('lifecycle');
    const older = await createSession({ customer: owner });
    const newer = await createSession({ customer: owner });

    const retrieved = await stripe.rawRequest('GET', `/v1/billing_portal/sessions/${older.id}`);
    const firstPage = await stripe.rawRequest('GET', `/v1/billing_portal/sessions?customer=${owner}&limit=1`);
    const secondPage = await stripe.rawRequest(
      'GET',
      `/v1/billing_portal/sessions?customer=${owner}&limit=1&starting_after=${firstPage.data[0].id}`
    );
    const expired = await stripe.rawRequest('POST', `/v1/billing_portal/sessions/${newer.id}/expire`, {});
    const page = await fetch(newer.url, { redirect: 'manual' });
    const again = await rejection(stripe.rawRequest('POST', `/v1/billing_portal/sessions/${newer.id}/expire`, {}));

    assert.equal(retrieved.id, older.id);
    assert.equal(retrieved.url, null, 'only create shows the URL');
    assert.equal(firstPage.object, 'list');
    assert.equal(firstPage.has_more, true);
    assert.equal(secondPage.has_more, false);
    assert.deepEqual([...firstPage.data, ...secondPage.data].map((s) => s.id).sort(), [older.id, newer.id].sort());
    assert.ok(firstPage.data[0].created >= secondPage.data[0].created, 'newest first');
    assert.equal(expired.status, 'expired');
    assert.equal(page.status, 410);
    assertStripeError(again, Stripe.errors.StripeInvalidRequestError, { status: 400, code: again.code, param: again.param });
  });
});

describe('configurations', () => {
  test('autoPagingToArray walks every page newest first, the same as one big page', async () => {
    const created = [];
    for (let i = 0; i < 5; i += 1) {
      created.push(
        await stripe.billingPortal.configurations.create({
          features: { invoice_history: { enabled: true } },
          name: `node pagination ${i}`,
          metadata: { run: RUN },
        })
      );
    }
    sample('configuration', 'billing_portal.configuration', created[0]);

    const paged = await stripe.billingPortal.configurations.list({ limit: 2 }).autoPagingToArray({ limit: 10_000 });
    const byHand = []; // the same walk, by hand: pages of 7 chained with starting_after
    let page = await stripe.billingPortal.configurations.list({ limit: 7 });
    byHand.push(page);
    while (page.has_more) {
      page = await stripe.billingPortal.configurations.list({ limit: 7, starting_after: page.data.at(-1).id });
      byHand.push(page);
    }
    const iterated = [];
    for await (const configuration of stripe.billingPortal.configurations.list({ limit: 3 })) iterated.push(configuration.id);
    const backwards = await stripe.billingPortal.configurations
      .list({ limit: 2, ending_before: paged.at(-1).id })
      .autoPagingToArray({ limit: 10_000 });
    sample('listed configuration', 'billing_portal.configuration', byHand[0].data[0]);

    const ids = paged.map((c) => c.id);
    assert.ok(ids.length > 5, `${ids.length} configurations`);
    assert.equal(new Set(ids).size, ids.length, 'no configuration twice');
    assert.deepEqual(ids, byHand.flatMap((p) => p.data.map((c) => c.id)));
    for (const p of byHand) {
      assert.equal(p.object, 'list');
      assert.equal(p.url, '/v1/billing_portal/configurations');
      assert.ok(p.data.length <= 7);
    }
    assert.deepEqual(iterated, ids);
    // Backwards from the oldest: every newer one, walked oldest first, as the SDK reverses each page
    assert.deepEqual(backwards.map((c) => c.id), ids.slice(0, -1).reverse());
    assert.deepEqual(ids.filter((id) => created.some((c) => c.id === id)).sort(), created.map((c) => c.id).sort());
    const times = paged.map((c) => c.created); // within one second the order is by id, not by creation
    assert.deepEqual(times, [...times].sort((a, b) => b - a), 'newest first');
    assert.equal(ids.at(-1), 'bpc_DefaultTestConfiguration', 'the default lists as the oldest');
    for (const id of ids) assert.match(id, CONFIGURATION_ID);
  });

  test('list filters: active=false and is_default=true', async () => {
    const retired = await stripe.billingPortal.configurations.create({ features: { invoice_history: { enabled: true } } });
    await stripe.billingPortal.configurations.update(retired.id, { active: false });

    const inactive = await stripe.billingPortal.configurations.list({ active: false }).autoPagingToArray({ limit: 10_000 });
    const defaults = await stripe.billingPortal.configurations.list({ is_default: true });

    assert.ok(inactive.some((c) => c.id === retired.id));
    assert.ok(inactive.every((c) => c.active === false));
    assert.deepEqual(defaults.data.map((c) => c.id), ['bpc_DefaultTestConfiguration']);
  });

  test('"" unsets: a metadata key, all metadata, default_return_url, a headline and an array', async () => {
    const configuration = await stripe.billingPortal.configurations.create({
      features: { customer_update: { enabled: true, allowed_updates: ['email', 'address'] } },
      default_return_url: 'https://example.com/home',
      business_profile: { headline: 'Billing' },
      metadata: { keep: 'a&b=c+d %20 ü 🎉', drop: 'x', other: 'y' },
    });

    const oneKey = await stripe.billingPortal.configurations.update(configuration.id, {
      metadata: { drop: '' },
      default_return_url: '',
      business_profile: { headline: '' },
      features: { customer_update: { allowed_updates: '' } },
    });
    const cleared = await stripe.billingPortal.configurations.update(configuration.id, { metadata: '' });
    const retrieved = await stripe.billingPortal.configurations.retrieve(configuration.id);
    sample('updated configuration', 'billing_portal.configuration', oneKey);

    assert.deepEqual(oneKey.metadata, { keep: 'a&b=c+d %20 ü 🎉', other: 'y' });
    assert.equal(oneKey.default_return_url, null);
    assert.equal(oneKey.business_profile.headline, null);
    assert.deepEqual(oneKey.features.customer_update, { allowed_updates: [], enabled: true });
    assert.deepEqual(cleared.metadata, {});
    assert.deepEqual(retrieved.metadata, {});
    assert.ok(retrieved.updated >= configuration.updated);
  });

  test('a session can use a configuration made through the SDK, its features decide the flows', async () => {
    const configuration = await stripe.billingPortal.configurations.create({ features: { invoice_history: { enabled: true } } });

    const error = await rejection(
      createSession({ configuration: configuration.id, flow_data: { type: 'subscription_cancel', subscription_cancel: { subscription: 'sub_1' } } })
    );
    const session = await createSession({ configuration: configuration.id });

    assertStripeError(error, Stripe.errors.StripeInvalidRequestError, { status: 400, code: undefined, param: 'flow_data[type]' });
    assert.equal(session.configuration, configuration.id);
  });
});

describe('idempotency', () => {
  test('the same Idempotency-Key and parameters replay the first session', async () => {
    const key = `node-replay-${RUN}`;
    const params = { customer: customer('replay') };

    const first = await createSession(params, { idempotencyKey: key });
    const replay = await createSession(params, { idempotencyKey: key });
    const listed = await stripe.rawRequest('GET', `/v1/billing_portal/sessions?customer=${customer('replay')}`);

    assert.equal(replay.id, first.id);
    assert.equal(replay.url, first.url);
    assert.equal(first.lastResponse.headers['idempotent-replayed'], undefined);
    assert.equal(replay.lastResponse.headers['idempotent-replayed'], 'true');
    assert.equal(replay.lastResponse.idempotencyKey, key);
    assert.notEqual(replay.lastResponse.requestId, first.lastResponse.requestId);
    assert.deepEqual(listed.data.map((s) => s.id), [first.id], 'one session was created');
  });

  test('the same key with other parameters, or on another endpoint, raises StripeIdempotencyError', async () => {
    const key = `node-mismatch-${RUN}`;
    await createSession({ customer: customer('mismatch') }, { idempotencyKey: key });

    const otherParams = await rejection(createSession({ customer: customer('mismatch'), locale: 'fr' }, { idempotencyKey: key }));
    const otherEndpoint = await rejection(
      stripe.billingPortal.configurations.create({ features: { invoice_history: { enabled: true } } }, { idempotencyKey: key })
    );
    errorSample('idempotency error', otherParams);

    for (const error of [otherParams, otherEndpoint]) {
      assertStripeError(error, Stripe.errors.StripeIdempotencyError, { status: 400, code: undefined, param: undefined });
      assert.equal(error.rawType, 'idempotency_error');
      assert.ok(error.message.includes(`'${key}'`), error.message);
    }
  });

  test('concurrent requests with one key make one session (409 in progress, the SDK retries and gets the replay)', async () => {
    const retrying = client(API_KEY, { maxNetworkRetries: 5 });
    const key = `node-concurrent-${RUN}`;

    const sessions = await Promise.all(
      Array.from({ length: 6 }, () => createSession({ customer: customer('concurrent') }, { idempotencyKey: key }, retrying))
    );
    const listed = await stripe.rawRequest('GET', `/v1/billing_portal/sessions?customer=${customer('concurrent')}`);

    assert.equal(new Set(sessions.map((s) => s.id)).size, 1);
    assert.deepEqual(listed.data.map((s) => s.id), [sessions[0].id]);
  });
});

describe('typed errors', () => {
  test('an unknown parameter: StripeInvalidRequestError naming it', async () => {
    const error = await rejection(createSession({ colour: 'blue' }));
    errorSample('unknown parameter', error);

    assertStripeError(error, Stripe.errors.StripeInvalidRequestError, { status: 400, code: 'parameter_unknown', param: 'colour' });
    assert.equal(error.message, 'Received unknown parameter: colour');
    assert.equal(error.rawType, 'invalid_request_error');
  });

  test('the param of a nested or array parameter is its full bracket path', async () => {
    const configuration = await withSubscriptionUpdates();
    const cases = [
      [{ locale: 'xx-YY' }, 'parameter_invalid', 'locale'],
      [{ return_url: 'not a url' }, 'url_invalid', 'return_url'],
      [{ customer: '' }, 'parameter_invalid_empty', 'customer'],
      [{ customer: undefined }, 'parameter_missing', 'customer'],
      [{ flow_data: { type: 'subscription_cancel' } }, 'parameter_missing', 'flow_data[subscription_cancel]'],
      [
        {
          configuration: configuration.id,
          flow_data: { type: 'subscription_update_confirm', subscription_update_confirm: { subscription: 'sub_1', items: [{ id: 'si_1', quantity: 'many' }] } },
        },
        'parameter_invalid_integer',
        'flow_data[subscription_update_confirm][items][0][quantity]',
      ],
      [{ expand: ['customer'] }, 'parameter_invalid', 'expand'],
      [{ configuration: 'bpc_DoesNotExist' }, 'resource_missing', 'configuration'],
    ];

    for (const [params, code, param] of cases) {
      const error = await rejection(createSession(params));
      assertStripeError(error, Stripe.errors.StripeInvalidRequestError, { status: 400, code, param });
      errorSample(`invalid ${param}`, error);
    }
  });

  test('a missing configuration: 404 StripeInvalidRequestError on id', async () => {
    const error = await rejection(stripe.billingPortal.configurations.retrieve('bpc_DoesNotExist'));

    assertStripeError(error, Stripe.errors.StripeInvalidRequestError, { status: 404, code: 'resource_missing', param: 'id' });
    assert.equal(error.message, "No such configuration: 'bpc_DoesNotExist'");
  });

  for (const prefix of ['sk_test_', 'sk_live_']) {
    test(`a wrong ${prefix} key: StripeAuthenticationError with the key masked`, async () => {
      const wrongKey = prefix + randomBytes(12).toString('hex');

      const error = await rejection(createSession({}, {}, client(wrongKey)));
      errorSample(`wrong ${prefix} key`, error);

      assertStripeError(error, Stripe.errors.StripeAuthenticationError, { status: 401, code: undefined, param: undefined });
      assert.ok(error.message.startsWith(`Invalid API Key provided: ${prefix}`), error.message);
      assert.ok(error.message.endsWith(wrongKey.slice(-4)), error.message);
      assert.ok(!JSON.stringify(error.raw).includes(wrongKey.slice(prefix.length, -4)), 'the key is masked');
    });
  }

  test('a restricted key creates sessions; elsewhere StripePermissionError', async () => {
    const restricted = client(RESTRICTED_KEY);

    const session = await createSession({ customer: customer('restricted') }, {}, restricted);
    const error = await rejection(restricted.billingPortal.configurations.list());

    assert.match(session.id, SESSION_ID);
    assertStripeError(error, Stripe.errors.StripePermissionError, { status: 403, code: error.code, param: undefined });
  });
});

describe('test and live mode', () => {
  test('a live key makes live sessions on the live default configuration; the test key cannot see them', async () => {
    const live = client(LIVE_KEY);

    const session = await createSession({ customer: customer('live') }, {}, live);
    const fromTest = await rejection(stripe.rawRequest('GET', `/v1/billing_portal/sessions/${session.id}`));
    // a live hand-off goes to the live portal only (the local runner serves it beside the test one)
    const { claims } = await visit(session.url, PORTAL_URL.replace('/_local/portal', '/_local/live/portal'));

    assert.equal(session.livemode, true);
    assert.equal(session.configuration, 'bpc_DefaultLiveConfiguration');
    assert.equal(claims.livemode, true);
    assertStripeError(fromTest, Stripe.errors.StripeInvalidRequestError, { status: 404, code: 'resource_missing', param: 'id' });
  });
});

describe('apiVersion override', () => {
  test('a client pinned to an older version gets the older shape and refuses the newer parameters', async () => {
    const older = client(API_KEY, { apiVersion: OLDER_API_VERSION });
    const requests = [];
    older.on('request', (event) => requests.push(event.api_version));

    const session = await createSession({ flow_data: { type: 'payment_method_update' } }, {}, older);
    const recovery = await rejection(createSession({ after_expiration: { type: 'customer_login' } }, {}, older));
    const newFlow = await rejection(createSession({ flow_data: { type: 'customer_update' } }, {}, older));

    assert.deepEqual(requests, [OLDER_API_VERSION, OLDER_API_VERSION, OLDER_API_VERSION]);
    assert.equal(session.lastResponse.apiVersion, OLDER_API_VERSION);
    assert.equal(recovery.headers['stripe-version'], OLDER_API_VERSION);
    assert.equal('after_expiration' in session, false);
    assert.deepEqual(Object.keys(session.flow).sort(), [
      'after_completion', 'subscription_cancel', 'subscription_update', 'subscription_update_confirm', 'type',
    ]);
    assertStripeError(recovery, Stripe.errors.StripeInvalidRequestError, { status: 400, code: 'parameter_unknown', param: 'after_expiration' });
    assertStripeError(newFlow, Stripe.errors.StripeInvalidRequestError, { status: 400, code: 'parameter_invalid', param: 'flow_data[type]' });
  });

  test('a per-request apiVersion overrides the client; the SDK version has the newer flows', async () => {
    const pinned = await createSession({}, { apiVersion: OLDER_API_VERSION });
    const latest = await createSession({ flow_data: { type: 'customer_update' } });

    assert.equal('after_expiration' in pinned, false);
    assert.equal(pinned.lastResponse.apiVersion, OLDER_API_VERSION);
    assert.equal(latest.lastResponse.apiVersion, SDK_API_VERSION);
    assert.equal(latest.after_expiration, null);
    assert.equal(latest.flow.type, 'customer_update');
    assert.deepEqual(latest.flow.customer_update, {});
  });

  test('retrieve, list and expire answer in the requested version too', async () => {
    const owner = customer('versioned-reads');
    const session = await createSession({ customer: owner, flow_data: { type: 'customer_update' } });
    const older = { apiVersion: OLDER_API_VERSION };

    const retrieved = await stripe.rawRequest('GET', `/v1/billing_portal/sessions/${session.id}`, null, older);
    const listed = await stripe.rawRequest('GET', `/v1/billing_portal/sessions?customer=${owner}`, null, older);
    const expired = await stripe.rawRequest('POST', `/v1/billing_portal/sessions/${session.id}/expire`, {}, older);
    const latest = await stripe.rawRequest('GET', `/v1/billing_portal/sessions/${session.id}`);

    for (const shown of [retrieved, listed.data[0], expired]) {
      assert.equal(shown.id, session.id);
      assert.equal('after_expiration' in shown, false);
      assert.equal('customer_update' in shown.flow, false);
    }
    assert.equal(latest.after_expiration, null);
    assert.deepEqual(latest.flow.customer_update, {});
  });

  test('a malformed version is refused on Stripe-Version', async () => {
    const error = await rejection(createSession({}, { apiVersion: 'yesterday' }));

    assertStripeError(error, Stripe.errors.StripeInvalidRequestError, { status: 400, code: undefined, param: 'Stripe-Version' });
  });
});
