// The three secrets a PDS cannot run without, and the file local mode keeps them in.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { Secp256k1Keypair } from '../repo/crypto/keypair.ts'
import { randomSecp256k1PrivateKey } from '../repo/crypto/secp256k1.ts'
import type { EnvReader } from './env.ts'
import { SECRETS_FILE_NAME, type SecretsConfig } from './types.ts'

// ---------------------------------------------------------------------------------------------
// Secrets

const GENERATED_SECRETS = ['PDS_JWT_SECRET', 'PDS_ADMIN_PASSWORD', 'PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX'] as const
type GeneratedSecret = (typeof GENERATED_SECRETS)[number]

function validRotationKey(hex: string): boolean {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) return false
  try {
    Secp256k1Keypair.import(hex.toLowerCase())
    return true
  } catch {
    return false
  }
}

function generateSecret(name: GeneratedSecret): string {
  switch (name) {
    case 'PDS_JWT_SECRET':
      return randomBytes(32).toString('hex')
    case 'PDS_ADMIN_PASSWORD':
      return randomBytes(16).toString('hex')
    case 'PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX':
      return Buffer.from(randomSecp256k1PrivateKey()).toString('hex')
  }
}

export function readSecrets(r: EnvReader, opts: { localMode: boolean; dataDirectory: string }): SecretsConfig | null {
  const values: Partial<Record<GeneratedSecret, string>> = {}
  for (const name of GENERATED_SECRETS) {
    const value = r.secret(name)
    if (value !== undefined) values[name] = value
  }
  const rotation = values.PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX
  if (rotation !== undefined && !validRotationKey(rotation.trim())) {
    r.fail(
      'PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX',
      'PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX must be 64 hex digits: a secp256k1 private key',
    )
  }
  if (rotation !== undefined) values.PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX = rotation.trim().toLowerCase()

  const dpopSecret = r.secret('PDS_DPOP_SECRET') ?? null
  const siteKey = r.str('PDS_HCAPTCHA_SITE_KEY')
  const secretKey = r.secret('PDS_HCAPTCHA_SECRET_KEY')
  const tokenSalt = r.secret('PDS_HCAPTCHA_TOKEN_SALT')
  const hcaptcha = siteKey && secretKey && tokenSalt ? { siteKey, secretKey, tokenSalt } : null

  const missing = GENERATED_SECRETS.filter((name) => values[name] === undefined)
  let generated: string[] = []
  let file: string | null = null
  if (missing.length > 0) {
    if (!opts.localMode) {
      for (const name of missing) r.fail(name, `${name} is required when PDS_HOSTNAME is not localhost`)
      return null
    }
    if (r.problems.length > 0) return null // do not write files for a config that will be refused
    file = path.join(opts.dataDirectory, SECRETS_FILE_NAME)
    try {
      generated = fillFromSecretsFile(file, missing, values)
    } catch (err) {
      r.fail('PDS_DATA_DIRECTORY', `the local secrets file ${file} could not be used: ${(err as Error).message}`)
      return null
    }
  }
  if (r.problems.length > 0) return null
  return {
    jwtSecret: values.PDS_JWT_SECRET as string,
    adminPassword: values.PDS_ADMIN_PASSWORD as string,
    plcRotationKeyK256PrivateKeyHex: values.PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX as string,
    dpopSecret,
    hcaptcha,
    generated,
    file,
  }
}

/**
 * Takes the missing secrets from the local secrets file, generating (and saving) any the file
 * does not hold yet. Returns the names generated on this call. Only the missing ones are ever
 * written: a secret given in the environment is not copied to disk.
 */
function fillFromSecretsFile(file: string, missing: GeneratedSecret[], values: Partial<Record<GeneratedSecret, string>>): string[] {
  let stored: Record<string, unknown> = {}
  if (existsSync(file)) {
    let parsed: unknown
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'))
    } catch {
      throw new Error('it is not valid JSON (delete it to generate new secrets)')
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new Error('it is not a JSON object (delete it to generate new secrets)')
    }
    stored = parsed as Record<string, unknown>
    // Keep it private even if someone loosened it.
    if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600)
  }
  const generated: string[] = []
  for (const name of missing) {
    const value = stored[name]
    const usable =
      typeof value === 'string' &&
      value.length > 0 &&
      (name !== 'PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX' || validRotationKey(value))
    if (usable) {
      values[name] = value
    } else {
      values[name] = generateSecret(name)
      stored[name] = values[name]
      generated.push(name)
    }
  }
  if (generated.length > 0) {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
    const tmp = `${file}.${process.pid}.tmp`
    writeFileSync(tmp, JSON.stringify(stored, null, 2) + '\n', { mode: 0o600 })
    chmodSync(tmp, 0o600)
    renameSync(tmp, file)
  }
  return generated
}
