// The application-side client. See packages/sdk/README.md.
export const SDK_PACKAGE = '@vigil/sdk';
