/**
 * HTTP service over a Recommender (fastify 5):
 *
 *   GET  /health                      model, set and user counts; the outfit slot layout
 *   GET  /users                       the run's user count and the onboarded users (from the database)
 *   GET  /users/:id                   the user's own outfits: training history or onboarding outfits
 *   DELETE /users/:id                 deletes an onboarded user (user-routes.ts)
 *   GET  /users/:id/outfits?k=10      the user's composed top-k outfits (&fixed=ID,ID &exclude=ID,…
 *                                     &maxShared=1 &exact=1 &explain=1, see composeQuery)
 *   POST /users/:id/rank[?explain=1]  {outfits: [[item per slot], …], k?} → ranked with scores
 *   POST /users                       {outfits: [[item per slot], …], strategy?, label?} → 201 {id}
 *   GET  /items?category=top&limit=&offset=   catalog page (for the web page)
 *   GET  /items/:id/image             the item's image bytes (PNG/JPEG); :id is an id or image name
 *   GET  /  /app.js  /style.css       the web page (src/serve/web, no build step)
 *
 * Every request is validated by a JSON schema (fastify's own Ajv) WITHOUT type coercion: a bad id,
 * a k out of range, an unknown key, a boolean where an item id belongs or an oversized body is a
 * 4xx whose message names the field. Integers in the path and query string must be plain decimals
 * (no sign, spaces, hex, exponent or leading zeros) and are converted before validation. Problems only the
 * model can see (unknown user or item, a top in the shoe slot) are UserErrors: 404 for the
 * addressed resource, 400 for bad content. Model work is bounded (LIMITS) and interleaves between
 * concurrent requests one beam stage at a time; onboarding fits in worker threads; socket and
 * handler timeouts cut slow clients off.
 */
import { readFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { readFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { createHash, timingSafeEqual } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import rateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify';
import { UserError } from '../errors.js';
import { COLD_START_STRATEGIES, type ColdStartStrategy } from '../train/cold-start.js';
import type { CalibratedScore, OutfitExplanation } from './compose.js';
import { LIMITS, UnknownItemError, UnknownUserError, type ItemRef, type OutfitRefs, type Recommender } from './recommender.js';
import { DatabaseUnavailableError } from './store.js';
import { registerUserRoutes, userIdParams } from './user-routes.js';

export interface ServerOptions {
  /** Largest request body in bytes (default 256 KiB). */
  bodyLimit?: number;
  /** Time allowed to receive a whole request, ms (default 30 s). */
  requestTimeout?: number;
  /** Time allowed from routing to the reply, ms (default 60 s). */
  handlerTimeout?: number;
  /** fastify's logger: false (default) or true. */
  logger?: boolean;
  /**
   * When set, every route but /health and the page's static files needs this key, sent as
   * `x-api-key: KEY` or `authorization: Bearer KEY` (401 otherwise).
   */
  apiKey?: string;
  /** Requests per client (IP address) per minute, over all routes; 0 or undefined = no limit. */
  rateLimit?: number;
}

const WEB_DIR = join(fileURLToPath(new URL('.', import.meta.url)), 'web');
const STATIC_FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};
const IMAGE_TYPES: Record<string, string> = { '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg' };

/**
 * One outfit: an item per slot, as a global id or an image name, or null for an empty optional
 * slot. One `type` list rather than anyOf: Ajv coerces only a value matching none of the types,
 * so item 0 is never coerced to null (nor null to item 0).
 */
/** An outfit of a request: one entry per slot of the set's layout (method.md §6.5); the recommender checks the count. */
function outfitSchemaFor(slots: number): Record<string, unknown> {
  return {
    type: 'array',
    minItems: 1,
    maxItems: Math.max(8, slots),
    items: { type: ['integer', 'string', 'null'], minimum: 0, minLength: 1, maxLength: 200 },
  };
}
/** Comma-separated item ids or names. */
const itemListQuery = { type: 'string', maxLength: 4000, pattern: '^[^,]+(,[^,]+)*$' };

const errorResponse = {
  type: 'object',
  properties: { statusCode: { type: 'integer' }, error: { type: 'string' }, message: { type: 'string' } },
};

export function buildServer(recommender: Recommender, opts: ServerOptions = {}): FastifyInstance {
  const requestTimeout = opts.requestTimeout ?? 30_000;
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: opts.bodyLimit ?? 256 * 1024,
    requestTimeout,
    // node checks request timeouts only every connectionsCheckingInterval (30 s by default): check
    // often enough that a client trickling its request in is cut off near the timeout
    http: {
      connectionsCheckingInterval: Math.max(100, Math.min(requestTimeout / 4, 30_000)),
      headersTimeout: Math.min(requestTimeout, 60_000),
    },
    handlerTimeout: opts.handlerTimeout ?? 60_000,
    // unknown keys must be errors (not silently dropped), and JSON bodies keep their types
    // no coercion: `true` is not item 1 and "0x10" is not user 16 (path/query integers: strictIntegers)
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false, allowUnionTypes: true } },
    return503OnClosing: true,
  });
  const staticFiles = new Map(
    Object.entries(STATIC_FILES).map(([route, { file, type }]) => [route, { body: readFileSync(join(WEB_DIR, file)), type }]),
  );

  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err.validation) {
      // an enum error says which values are allowed (the set's category names, the strategies, …)
      const allowed = err.validation.find((v) => v.keyword === 'enum')?.params?.allowedValues;
      const message = Array.isArray(allowed) ? `${err.message}: ${allowed.map((a) => JSON.stringify(a)).join(', ')}` : err.message;
      return reply.status(400).send({ statusCode: 400, error: 'Bad Request', message });
    }
    if (err instanceof UnknownUserError || err instanceof UnknownItemError) {
      return reply.status(404).send({ statusCode: 404, error: 'Not Found', message: err.message });
    }
    if (err instanceof DatabaseUnavailableError) {
      request.log.error(err);
      return reply.status(503).send({ statusCode: 503, error: 'Service Unavailable', message: 'the users database cannot be reached; retry later' });
    }
    if (err instanceof UserError) {
      return reply.status(400).send({ statusCode: 400, error: 'Bad Request', message: err.message });
    }
    const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status >= 500) request.log.error(err);
    const message = status >= 500 && status !== 503 ? 'internal error' : err.message;
    return reply.status(status).send({ statusCode: status, error: STATUS_CODES[status] ?? 'Error', message });
  });

  // the page and /health stay open; everything else needs the key when one is set
  const openRoutes = new Set(['/health', ...Object.keys(STATIC_FILES)]);
  if (opts.apiKey !== undefined) {
    if (opts.apiKey.length < 8) throw new UserError('the API key must have at least 8 characters');
    const expected = createHash('sha256').update(opts.apiKey).digest();
    app.addHook('onRequest', async (request, reply) => {
      if (openRoutes.has(request.routeOptions.url ?? '')) return;
      const given = apiKeyOf(request.headers);
      // compared as hashes in constant time: neither length nor prefix leaks
      if (given === undefined || !timingSafeEqual(createHash('sha256').update(given).digest(), expected)) {
        return reply
          .status(401)
          .header('www-authenticate', 'Bearer')
          .send({ statusCode: 401, error: 'Unauthorized', message: given === undefined ? 'an API key is required (header x-api-key or authorization: Bearer)' : 'wrong API key' });
      }
    });
  }
  if (opts.rateLimit !== undefined && opts.rateLimit > 0) {
    void app.register(rateLimit, {
      max: opts.rateLimit,
      timeWindow: 60_000,
      // per client address; the page's static files are not counted
      allowList: (request) => openRoutes.has(request.routeOptions.url ?? '') && request.routeOptions.url !== '/health',
      errorResponseBuilder: (_request, context) => ({
        statusCode: 429,
        error: 'Too Many Requests',
        message: `rate limit: at most ${context.max} requests per minute per client; retry in ${Math.ceil(context.ttl / 1000)} s`,
      }),
    });
  }
  app.addHook('preValidation', async (request) => strictIntegers(request));

  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send({ statusCode: 404, error: 'Not Found', message: `no route ${request.method} ${request.url.split('?')[0]}` });
  });

  // the routes in a plugin registered after the rate limiter, so its per-route hook covers them
  void app.register(async (scope) => {
    for (const [route, file] of staticFiles) {
      scope.get(route, (_request, reply) => {
        reply.header('content-type', file.type).header('cache-control', 'no-cache').send(file.body);
      });
    }

    scope.get('/health', async () => {
      // no paths: the run is named by its folder name only
      const { runDir, ...info } = recommender.describe();
      return {
        status: 'ok',
        ...info,
        run: runDir === null ? null : basename(runDir),
        // from the database: servers sharing one see each other's new users
        onboardedUsers: await recommender.users.count(),
        onboardWorkers: recommender.onboardWorkers,
        database: recommender.store.kind,
      };
    });

    registerUserRoutes(scope, recommender);

    scope.get<{ Params: { id: number }; Querystring: ComposeQuery }>(
      '/users/:id/outfits',
      {
        schema: {
          params: userIdParams,
          querystring: composeQuery,
          response: { 400: errorResponse, 404: errorResponse },
        },
      },
      async (request) => {
        const { id } = request.params;
        const { k, fixed, exclude, maxShared, exact, explain } = request.query;
        const result = await recommender.compose(id, { k, fixed: splitList(fixed), exclude: splitList(exclude), maxShared, exact: exact === 1, explain: explain === 1 });
        return {
          user: id,
          k,
          tookMs: result.ms,
          ...(result.relaxed ? { relaxed: result.relaxed } : {}),
          outfits: result.outfits.map((o) => outfitView(recommender, o)),
        };
      },
    );

    scope.post<{ Params: { id: number }; Querystring: { explain?: number }; Body: { outfits: OutfitRefs[]; k?: number } }>(
      '/users/:id/rank',
      {
        schema: {
          params: userIdParams,
          querystring: { type: 'object', additionalProperties: false, properties: { explain: flagQuery } },
          body: {
            type: 'object',
            required: ['outfits'],
            additionalProperties: false,
            properties: {
              outfits: { type: 'array', minItems: 1, maxItems: LIMITS.maxRankOutfits, items: outfitSchemaFor(recommender.slotCategories.length) },
              k: { type: 'integer', minimum: 1, maximum: LIMITS.maxRankOutfits },
            },
          },
        },
      },
      async (request) => {
        const { id } = request.params;
        const started = performance.now();
        // the user first: an unknown user is a 404 even when the outfits are bad too
        await recommender.loadUserVector(id);
        const ranked = await recommender.rankCandidates(id, request.body.outfits, request.body.k, { explain: request.query.explain === 1 });
        return {
          user: id,
          tookMs: performance.now() - started,
          ranked: ranked.map((r) => ({ index: r.index, ...outfitView(recommender, r) })),
        };
      },
    );

    scope.post<{ Body: { outfits: OutfitRefs[]; strategy?: ColdStartStrategy; label?: string } }>(
      '/users',
      {
        schema: {
          body: {
            type: 'object',
            required: ['outfits'],
            additionalProperties: false,
            properties: {
              outfits: { type: 'array', minItems: 1, maxItems: LIMITS.maxOnboardOutfits, items: outfitSchemaFor(recommender.slotCategories.length) },
              strategy: { type: 'string', enum: [...COLD_START_STRATEGIES] },
              label: { type: 'string', maxLength: 100 },
            },
          },
        },
      },
      async (request, reply) => {
        const { outfits, strategy, label } = request.body;
        const user = await recommender.onboard(outfits, { strategy, label });
        reply.status(201).header('location', `/users/${user.id}/outfits`);
        return { id: user.id, strategy: user.strategy, outfits: user.outfits.length, createdAt: user.createdAt, tookMs: user.ms };
      },
    );

    scope.get<{ Querystring: { category: string; limit: number; offset: number } }>(
      '/items',
      {
        schema: {
          querystring: {
            type: 'object',
            required: ['category'],
            additionalProperties: false,
            properties: {
              // one of the set's categories (method.md §6.5)
              category: { type: 'string', enum: recommender.set.layout.categories.filter((_, c) => recommender.slotCategories.includes(c)) },
              limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
              offset: { type: 'integer', minimum: 0, default: 0 },
            },
          },
        },
      },
      (request) => {
        const { category, limit, offset } = request.query;
        const c = recommender.set.layout.categories.indexOf(category);
        return { category, offset, limit, ...recommender.listItems(c, offset, limit) };
      },
    );

    scope.get<{ Params: { id: string } }>(
      '/items/:id/image',
      {
        schema: {
          params: { type: 'object', required: ['id'], additionalProperties: false, properties: { id: { type: 'string', minLength: 1, maxLength: 200 } } },
        },
      },
      async (request, reply) => {
        const id = recommender.requireItem(itemRefOf(request.params.id));
        const path = recommender.imagePath(id);
        if (!path) throw new UnknownItemError(`item ${id} has no image in ${recommender.set.root}/images`);
        const type = IMAGE_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
        const bytes = await readFile(path);
        // an item's picture never changes while the dataset folder stays the same
        return reply.header('content-type', type).header('cache-control', 'public, max-age=86400').send(bytes);
      },
    );

  });

  return app;
}

// ---- composition and ranking views (issue 12: readable scores, explanations, diversity) ----------------

/** 0 or 1 in the query string (`?explain=1`). */
const flagQuery = { type: 'integer', enum: [0, 1] };

interface ComposeQuery {
  k: number;
  fixed?: string;
  exclude?: string;
  maxShared?: number;
  exact?: number;
  explain?: number;
}

/**
 * Query of GET /users/:id/outfits: k, fixed and exclude items; maxShared (diversity: no two
 * outfits share more than this many items, default 1; the slot count turns it off); exact=1
 * (retrieval scans every item instead of the ANN index); explain=1 (item contributions and the
 * matched anchor, method.md §3.1).
 */
const composeQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    k: { type: 'integer', minimum: 1, maximum: LIMITS.maxK, default: 10 },
    fixed: itemListQuery,
    exclude: itemListQuery,
    maxShared: { type: 'integer', minimum: 0, maximum: 8 },
    exact: flagQuery,
    explain: flagQuery,
  },
};

/**
 * One outfit in a response: score, calibrated percentile and one-in-N figure, items (with their contribution when
 * explained) and the anchor it matched best.
 */
function outfitView(recommender: Recommender, o: { items: readonly number[]; score: number; explanation?: OutfitExplanation } & CalibratedScore): object {
  const e = o.explanation;
  const items = o.items.flatMap((id, j) => (id < 0 ? [] : [{ ...recommender.itemInfo(id), ...(e ? { contribution: e.contributions[j] } : {}) }]));
  return { score: o.score, percentile: o.percentile, oneIn: o.oneIn, items, ...(e ? { style: { anchor: e.anchor, cosine: e.anchorCosine } } : {}) };
}

/** A plain decimal integer as typed: no sign, spaces, hex, exponent or leading zeros. */
const DECIMAL = /^(0|[1-9][0-9]{0,15})$/;

/** Item ids are plain decimals; anything else is an image name (looked up as it is, untrimmed). */
function itemRefOf(value: string): ItemRef {
  return DECIMAL.test(value) ? Number(value) : value;
}

function splitList(value: string | undefined): ItemRef[] {
  return value === undefined ? [] : value.split(',').map((v) => itemRefOf(v));
}

/**
 * Path and query values arrive as strings; Ajv runs without coercion, so the fields its schema
 * types as integers are converted here, and only when they are plain decimals: " 1", "0x10",
 * "1e1", "+1" and "01" stay strings and fail validation with a message naming the field.
 */
function strictIntegers(request: FastifyRequest): void {
  const schema = request.routeOptions.schema as { params?: ObjectSchema; querystring?: ObjectSchema } | undefined;
  convertIntegers(request.params as Record<string, unknown> | undefined, schema?.params);
  convertIntegers(request.query as Record<string, unknown> | undefined, schema?.querystring);
}

interface ObjectSchema {
  properties?: Record<string, { type?: unknown }>;
}

function convertIntegers(values: Record<string, unknown> | undefined, schema: ObjectSchema | undefined): void {
  if (!values || !schema?.properties) return;
  for (const [key, prop] of Object.entries(schema.properties)) {
    const v = values[key];
    if (prop.type === 'integer' && typeof v === 'string' && DECIMAL.test(v)) values[key] = Number(v);
  }
}

function apiKeyOf(headers: FastifyRequest['headers']): string | undefined {
  const key = headers['x-api-key'];
  if (typeof key === 'string' && key !== '') return key;
  const auth = headers.authorization;
  const m = typeof auth === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(auth) : null;
  return m ? m[1] : undefined;
}

/**
 * Starts the service and returns the listening instance; closing it also closes the recommender.
 * `port` 0 picks a free port (tests); the bound address is `app.server.address()`.
 */
export async function startServer(recommender: Recommender, listen: { port: number; host: string }, opts: ServerOptions = {}): Promise<FastifyInstance> {
  const app = buildServer(recommender, opts);
  app.addHook('onClose', async () => await recommender.close());
  await app.listen({ port: listen.port, host: listen.host });
  return app;
}
