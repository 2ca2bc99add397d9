/** The clients of `npm run global` carry the app's bounded connection timeout and attempts, in their region. */
import { AWS_CLIENT_DEFAULTS } from '../../app/src/aws-clients';
import { CONTROL_PLANE_REQUEST_TIMEOUT_MS, elastiCacheClient, rdsClient } from './aws-clients';

test('RDS and ElastiCache clients have bounded timeouts and attempts, in the region asked for', async () => {
  const clients = [rdsClient('ap-southeast-2'), elastiCacheClient('ap-southeast-2')];
  try {
    for (const client of clients) {
      expect(await client.config.region()).toBe('ap-southeast-2');
      expect(await client.config.maxAttempts()).toBe(AWS_CLIENT_DEFAULTS.maxAttempts);
      const handler = client.config.requestHandler as unknown as {
        configProvider: Promise<{
          connectionTimeout?: number;
          requestTimeout?: number;
          throwOnRequestTimeout?: boolean;
        }>;
      };
      expect(await handler.configProvider).toMatchObject({
        connectionTimeout: AWS_CLIENT_DEFAULTS.connectionTimeoutMs,
        requestTimeout: CONTROL_PLANE_REQUEST_TIMEOUT_MS,
        throwOnRequestTimeout: true,
      });
    }
  } finally {
    for (const client of clients) client.destroy();
  }
});
