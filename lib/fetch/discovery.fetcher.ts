/** One discovery of an issuer's JWKS location. */
export interface DiscoveryRequest {
  /** The configured issuer, exactly as tokens carry it in `iss`. */
  issuer: string;
  timeoutMs: number;
  maxResponseBytes: number;
  /** Hosts (lower-case hostnames, optionally with :port) a jwks_uri may be on besides the issuer's own host. */
  allowedJwksHosts: readonly string[];
  now: number;
  signal?: AbortSignal;
}

export interface DiscoveryResult {
  /** The validated jwks_uri. */
  jwksUri: string;
  /** The document URL that answered (for logs: origin + path only). */
  documentUri: string;
  /** Freshness the document's Cache-Control/Expires gave, if any. */
  maxAgeMs?: number;
}

/**
 * Reads an issuer's discovery document and returns its validated `jwks_uri`.
 * @throws JwksFetchError
 */
export type DiscoveryFetcher = (request: DiscoveryRequest) => Promise<DiscoveryResult>;

// PLACEHOLDER until the discovery branch merges (replaced by the real implementation).
export const httpDiscoveryFetcher: DiscoveryFetcher = () => Promise.reject(new Error('discovery not merged yet'));
