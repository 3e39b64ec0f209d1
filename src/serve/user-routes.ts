/**
 * The users' routes of the HTTP service (server.ts registers them inside its routes plugin):
 *
 *   GET    /users?limit=100&before=ID   the run's user count, the onboarded count, and a page of
 *                                 onboarded users newest first (`next`: the `before` of the next page),
 *                                 read from the database
 *   GET    /users/:id?limit=50    the user's own outfits with readable item names: a run user's
 *                                 training outfits (the set's train split), an onboarded user's
 *                                 onboarding outfits
 *   DELETE /users/:id             deletes an onboarded user for good (every replica on the database
 *                                 stops serving it); 409 for the run's own users, 404 for unknown ids
 */
import type { FastifyInstance } from 'fastify';
import { UnknownUserError, type ItemInfo, type Recommender } from './recommender.js';

export const userIdParams = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: { id: { type: 'integer', minimum: 0, maximum: 2147483647 } },
};

/** Largest `limit` of GET /users/:id. */
export const MAX_HISTORY = 500;

/** Largest `limit` of GET /users (a page of onboarded users). */
export const MAX_USERS_PAGE = 1000;

export interface UserHistory {
  id: number;
  kind: 'run' | 'onboarded';
  /** Where the outfits come from: the run's training split, or the outfits given at onboarding. */
  source: 'train' | 'onboarding';
  label: string | null;
  strategy: string | null;
  createdAt: string | null;
  /** Outfits the user has in all (the list may be cut at `limit`). */
  total: number;
  outfits: Array<{ items: ItemInfo[] }>;
}

export function registerUserRoutes(scope: FastifyInstance, recommender: Recommender): void {
  scope.get<{ Querystring: { limit: number; before?: number } }>(
    '/users',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: MAX_USERS_PAGE, default: 100 },
            before: { type: 'integer', minimum: 0, maximum: 2147483647 },
          },
        },
      },
    },
    async (request) => {
      const { limit, before } = request.query;
      // from the database, not from this process's memory: another replica may have added or deleted users
      // one row past the page tells whether another page follows
      const [total, rows] = await Promise.all([recommender.users.count(), recommender.onboardedUsers(limit + 1, before)]);
      const onboarded = rows.slice(0, limit);
      return {
        runUsers: recommender.runUsers,
        onboardedTotal: total,
        onboarded,
        next: rows.length > limit ? onboarded[limit - 1].id : null,
      };
    },
  );

  scope.get<{ Params: { id: number }; Querystring: { limit: number } }>(
    '/users/:id',
    {
      schema: {
        params: userIdParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { limit: { type: 'integer', minimum: 1, maximum: MAX_HISTORY, default: 50 } },
        },
      },
    },
    async (request) => userHistory(recommender, request.params.id, request.query.limit),
  );

  scope.delete<{ Params: { id: number } }>('/users/:id', { schema: { params: userIdParams } }, async (request, reply) => {
    const { id } = request.params;
    if (id < recommender.runUsers) {
      return reply.status(409).send({
        statusCode: 409,
        error: 'Conflict',
        message: `user ${id} is one of the run's training users (0..${recommender.runUsers - 1}) and cannot be deleted; only onboarded users can`,
      });
    }
    await recommender.deleteUser(id);
    return { deleted: id };
  });
}

/** Training rows per run user, built once per recommender. */
const trainRowsOf = new WeakMap<Recommender, Int32Array[]>();

/** The user's own outfits, first `limit` of them. */
export async function userHistory(recommender: Recommender, id: number, limit: number): Promise<UserHistory> {
  const items = (row: ArrayLike<number>): { items: ItemInfo[] } => ({ items: Array.from(row).filter((i) => i >= 0).map((i) => recommender.itemInfo(i)) });
  if (id < recommender.runUsers) {
    const train = recommender.set.splits.train.posi;
    let rows = trainRowsOf.get(recommender);
    if (!rows) {
      const lists: number[][] = Array.from({ length: recommender.runUsers }, () => []);
      for (let r = 0; r < train.users.length; r++) lists[train.users[r]]?.push(r);
      rows = lists.map((l) => Int32Array.from(l));
      trainRowsOf.set(recommender, rows);
    }
    const mine = rows[id];
    return {
      id,
      kind: 'run',
      source: 'train',
      label: null,
      strategy: null,
      createdAt: null,
      total: mine.length,
      outfits: Array.from(mine.subarray(0, limit), (r) => items(train.items.subarray(r * train.slots, (r + 1) * train.slots))),
    };
  }
  const user = await recommender.findUser(id);
  if (!user) throw new UnknownUserError(`unknown user ${id}: users are 0..${recommender.runUsers - 1} (the run's) and the onboarded ones listed by GET /users`);
  return {
    id,
    kind: 'onboarded',
    source: 'onboarding',
    label: user.label,
    strategy: user.strategy,
    createdAt: user.createdAt,
    total: user.outfits.length,
    outfits: user.outfits.slice(0, limit).map(items),
  };
}
