# Sanity checks of the Test::Nginx::Socket scaffold itself, using stock
# nginx features only.

use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_FAKE_BACKEND_PORT} ||= 19850;

repeat_each(2);
log_level('debug');
no_long_string();
no_shuffle();
env_to_nginx('TEST_NGINX_RUNNER_ENV=hello');

# blocks without their own --- config get this one
add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->config) {
        $block->set_value('config', <<'_EOC_');
    location = /default {
        return 200 "default config\n";
    }
_EOC_
    }
});

run_tests();

__DATA__

=== TEST 1: plain return, body, headers present and absent
--- config
    location = /t {
        return 200 "hello\n";
    }
--- request
GET /t
--- response_body
hello
--- response_headers
Content-Type: text/plain
Content-Length: 6
!X-Absent
--- response_headers_like
Server: nginx/[\d.]+
--- no_error_log
[error]
[alert]



=== TEST 2: add_header and more_headers
--- config
    location = /echo {
        add_header X-Foo "bar-$http_x_test";
        return 200 "x-test: $http_x_test\n";
    }
--- more_headers
X-Test: abc
--- request
GET /echo
--- response_headers
X-Foo: bar-abc
--- response_body
x-test: abc



=== TEST 3: request body gets a Content-Length
--- config
    location = /len {
        return 200 "len=$content_length method=$request_method\n";
    }
--- request
POST /len
hello world
--- response_body
len=11 method=POST



=== TEST 4: proxy_pass to the fake TCP backend
--- config
    location = /up {
        proxy_pass http://127.0.0.1:$TEST_NGINX_FAKE_BACKEND_PORT/backend;
    }
--- request
GET /up
--- tcp_listen eval: $ENV{TEST_NGINX_FAKE_BACKEND_PORT}
--- tcp_query eval
"GET /backend HTTP/1.0\r
Host: 127.0.0.1:$ENV{TEST_NGINX_FAKE_BACKEND_PORT}\r
Connection: close\r
\r
"
--- tcp_reply eval
"HTTP/1.0 200 OK\r
Content-Type: text/plain\r
Content-Length: 12\r
X-Backend: fake\r
\r
from backend"
--- response_headers
X-Backend: fake
--- response_body chomp
from backend
--- no_error_log
[error]



=== TEST 5: chunked response from the backend is decoded
--- config
    location = /chunked {
        proxy_pass http://127.0.0.1:$TEST_NGINX_FAKE_BACKEND_PORT;
    }
--- request
GET /chunked
--- tcp_listen eval: $ENV{TEST_NGINX_FAKE_BACKEND_PORT}
--- tcp_reply eval
"HTTP/1.1 200 OK\r
Transfer-Encoding: chunked\r
Connection: close\r
\r
6\r
hello \r
5\r
world\r
0\r
\r
"
--- tcp_reply_delay: 50ms
--- response_headers
Transfer-Encoding: chunked
--- response_body chomp
hello world



=== TEST 6: error_log sees this block's lines
--- config
    location = /deny {
        deny all;
    }
--- request
GET /deny
--- error_code: 403
--- response_body_like: 403 Forbidden
--- error_log
access forbidden by rule
--- no_error_log eval
[qr/\[alert\]/, "[crit]"]



=== TEST 7: error_log patterns as regexes in an array
--- config
    location = /t {
        return 204;
    }
--- request
GET /t
--- error_code: 204
--- response_body eval: ""
--- error_log eval
[qr/http finalize request: \d+, "\/t\?" a:1, c:1/, "GET /t HTTP/1.1"]



=== TEST 8: nginx must fail to start on a bad directive
--- config
    location = /t {
        no_such_directive_here on;
    }
--- request
GET /t
--- must_die
--- error_log
unknown directive "no_such_directive_here"
--- no_error_log
[alert]



=== TEST 9: http_config and main_config sections
--- main_config
    worker_rlimit_nofile 1024;
--- http_config
    map $arg_v $mapped {
        default  none;
        one      1;
    }
--- config
    location = /map {
        return 200 "mapped=$mapped port=$TEST_NGINX_SERVER_PORT\n";
    }
--- request
GET /map?v=one
--- response_body eval
"mapped=1 port=$ENV{TEST_NGINX_SERVER_PORT}\n"



=== TEST 10: several requests, one connection each
--- config
    location = /a { return 200 "a\n"; }
    location = /b { return 404; }
--- request eval
["GET /a", "GET /b"]
--- error_code eval
[200, 404]
--- response_body_like eval
["^a\$", "404 Not Found"]



=== TEST 11: pipelined requests on one connection
--- config
    location = /a { return 200 "a\n"; }
    location = /b { return 200 "bb\n"; }
--- pipelined_requests eval
["GET /a", "GET /b"]
--- response_body eval
["a\n", "bb\n"]



=== TEST 12: raw request and user files under the html directory
--- user_files
>>> sub/hello.txt
hello from a file
--- raw_request eval
"GET /sub/hello.txt HTTP/1.0\r
Host: localhost\r
\r
"
--- config
--- response_body
hello from a file



=== TEST 13: block preprocessor supplies the config
--- request
GET /default
--- response_body
default config



=== TEST 14: request comments and HEAD
--- config
    location = /t {
        return 200 "body\n";
    }
--- request
    # a comment before the request line
    HEAD /t
--- response_headers
Content-Length: 5
--- response_body eval: ""
