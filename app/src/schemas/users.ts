import { errorResponses, storableText } from './common';

/** A user as the API shows it (never the password hash). */
export const userSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    email: { type: 'string' },
    name: { type: 'string' },
    role: { type: 'string', enum: ['customer', 'admin'] },
    createdAt: { type: 'string', format: 'date-time' },
    /** GET /api/me: orders counted from OrderPlaced events (eventually consistent; README "Domain events"). */
    orderCount: { type: 'integer', minimum: 0 },
  },
  required: ['id', 'email', 'name', 'role', 'createdAt'],
  additionalProperties: false,
} as const;

const userResponse = {
  type: 'object',
  properties: { user: userSchema },
  required: ['user'],
  additionalProperties: false,
} as const;

const email = { ...storableText, format: 'email', maxLength: 254 } as const;
// Passwords are hashed, not stored, but an unpaired surrogate becomes U+FFFD before hashing: two different
// passwords would hash alike.
const password = { ...storableText, minLength: 1, maxLength: 200 } as const;

/** POST /api/users */
export const signUpSchema = {
  body: {
    type: 'object',
    properties: {
      email,
      password: { ...password, minLength: 8 },
      name: { ...storableText, minLength: 1, maxLength: 100 },
    },
    required: ['email', 'password', 'name'],
    additionalProperties: false,
  },
  response: { 201: userResponse, ...errorResponses },
} as const;

/** POST /api/sessions */
export const logInSchema = {
  body: {
    type: 'object',
    properties: { email, password },
    required: ['email', 'password'],
    additionalProperties: false,
  },
  response: { 200: userResponse, ...errorResponses },
} as const;

/** DELETE /api/sessions */
export const logOutSchema = { response: { 204: { type: 'null' }, ...errorResponses } } as const;

/** GET /api/me */
export const meSchema = { response: { 200: userResponse, ...errorResponses } } as const;
