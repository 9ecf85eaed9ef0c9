// The yardstick: a Worker that answers every request with a bare 302 and nothing else.
export default {
  fetch() {
    return new Response(null, { status: 302, headers: { location: "https://app.example.com/signup" } });
  },
};
