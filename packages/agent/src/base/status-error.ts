/**
 * An error that carries the HTTP status it should be answered with. The server's error handler
 * reads `statusCode` (4xx with the message; anything else is a 500), so a plane can refuse a
 * request without knowing about HTTP routes, and routes need no instanceof ladder to translate.
 */
export class StatusError extends Error {
  readonly statusCode: number;

  constructor(statusCode: number, message: string) {
    super(message);
    this.statusCode = statusCode;
    this.name = new.target.name;
  }
}
