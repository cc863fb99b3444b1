/**
 * The libc symbols net/ calls through Deno FFI, loaded once on first use.
 *
 * Every call here is synchronous and runs on the JS main thread, which is what setns()
 * needs: a namespace switch applies to the calling thread only.
 *
 * @module
 */

/** The FFI symbol table. Each parameter is commented with its C type. */
export const LIBC_SYMBOLS = {
  /** int socket(int domain, int type, int protocol) */
  socket: {
    parameters: ["i32", /* int domain */ "i32", /* int type */ "i32" /* int protocol */],
    result: "i32",
  },
  /** int bind(int fd, const struct sockaddr *addr, socklen_t len) */
  bind: {
    parameters: ["i32", /* int fd */ "buffer", /* const struct sockaddr * */ "u32" /* socklen_t */],
    result: "i32",
  },
  /** int getsockname(int fd, struct sockaddr *addr, socklen_t *len) */
  getsockname: {
    parameters: ["i32", /* int fd */ "buffer", /* struct sockaddr * */ "buffer" /* socklen_t * */],
    result: "i32",
  },
  /** int setsockopt(int fd, int level, int name, const void *value, socklen_t len) */
  setsockopt: {
    parameters: [
      "i32", /* int fd */
      "i32", /* int level */
      "i32", /* int optname */
      "buffer", /* const void *optval */
      "u32", /* socklen_t optlen */
    ],
    result: "i32",
  },
  /** ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to, socklen_t tolen) */
  sendto: {
    parameters: [
      "i32", /* int fd */
      "buffer", /* const void *buf */
      "usize", /* size_t len */
      "i32", /* int flags */
      "buffer", /* const struct sockaddr *dest_addr */
      "u32", /* socklen_t addrlen */
    ],
    result: "isize",
  },
  /** ssize_t recv(int fd, void *buf, size_t len, int flags) */
  recv: {
    parameters: [
      "i32", /* int fd */
      "buffer", /* void *buf */
      "usize", /* size_t len */
      "i32", /* int flags */
    ],
    result: "isize",
  },
  /** int setns(int fd, int nstype) */
  setns: { parameters: ["i32", /* int fd */ "i32" /* int nstype */], result: "i32" },
  /** int open(const char *path, int flags, mode_t mode) — variadic in C; mode is read only with O_CREAT. */
  open: {
    parameters: ["buffer", /* const char *path */ "i32", /* int flags */ "u32" /* mode_t mode */],
    result: "i32",
  },
  /** int close(int fd) */
  close: { parameters: ["i32" /* int fd */], result: "i32" },
  /** int getpriority(int which, id_t who): the nice value (-1 with errno set on failure) */
  getpriority: { parameters: ["i32", /* int which */ "u32" /* id_t who */], result: "i32" },
  /** int memfd_create(const char *name, unsigned int flags): an anonymous memory file */
  memfd_create: { parameters: ["buffer", /* const char *name */ "u32" /* flags */], result: "i32" },
  /** int setpriority(int which, id_t who, int prio) */
  setpriority: {
    parameters: ["i32", /* int which */ "u32", /* id_t who */ "i32" /* int prio */],
    result: "i32",
  },
  /** int *__errno_location(void) */
  __errno_location: { parameters: [], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

/**
 * Namespace administration (`ip netns add/del`): loaded by a separate, lazy dlopen, since every
 * bound symbol costs FFI set-up time (~0.5 ms each for these) and the CNI plugin never calls them.
 */
export const LIBC_NS_ADMIN_SYMBOLS = {
  /** int unshare(int flags) */
  unshare: { parameters: ["i32" /* int flags */], result: "i32" },
  /** int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const void *data) */
  mount: {
    parameters: [
      "buffer", /* const char *source */
      "buffer", /* const char *target */
      "buffer", /* const char *filesystemtype */
      "u64", /* unsigned long mountflags */
      "pointer", /* const void *data */
    ],
    result: "i32",
  },
  /** int umount2(const char *target, int flags) */
  umount2: {
    parameters: ["buffer", /* const char *target */ "i32" /* int flags */],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;

/**
 * Waiting on sockets without blocking the JS thread (the kernel monitor, probes): `poll` runs
 * on a helper thread (FFI `nonblocking`) and returns a Promise; `eventfd`/`write` wake it up.
 * Their own lazy dlopen, like the namespace symbols: the CNI plugin never loads them.
 */
export const LIBC_POLL_SYMBOLS = {
  /** int poll(struct pollfd *fds, nfds_t nfds, int timeout), on a helper thread. */
  poll: {
    parameters: [
      "buffer",
      /* struct pollfd *fds */ "u64",
      /* nfds_t nfds */ "i32", /* int timeout */
    ],
    result: "i32",
    nonblocking: true,
  },
  /** int eventfd(unsigned int initval, int flags) */
  eventfd: { parameters: ["u32", /* unsigned int initval */ "i32" /* int flags */], result: "i32" },
  /** ssize_t write(int fd, const void *buf, size_t count) */
  write: {
    parameters: ["i32", /* int fd */ "buffer", /* const void *buf */ "usize" /* size_t count */],
    result: "isize",
  },
  /** ssize_t read(int fd, void *buf, size_t count): drains an eventfd (recv() fails: ENOTSOCK). */
  read: {
    parameters: ["i32", /* int fd */ "buffer", /* void *buf */ "usize" /* size_t count */],
    result: "isize",
  },
} as const satisfies Deno.ForeignLibraryInterface;

/**
 * A unix stream server whose peers are checked with SO_PEERCRED (net/unix_server.ts): its own
 * lazy dlopen, since the CNI plugin never calls these. accept4/recv/send run on helper threads
 * (FFI `nonblocking`) so a slow peer never blocks the JS thread; SO_RCVTIMEO/SO_SNDTIMEO bound
 * how long each of them can wait.
 */
export const LIBC_UNIX_SERVER_SYMBOLS = {
  /** int connect(int fd, const struct sockaddr *addr, socklen_t len) */
  connect: {
    parameters: ["i32", /* int fd */ "buffer", /* const struct sockaddr * */ "u32" /* socklen_t */],
    result: "i32",
  },
  /** int listen(int fd, int backlog) */
  listen: { parameters: ["i32", /* int fd */ "i32" /* int backlog */], result: "i32" },
  /** int getsockopt(int fd, int level, int name, void *value, socklen_t *len) */
  getsockopt: {
    parameters: [
      "i32", /* int fd */
      "i32", /* int level */
      "i32", /* int optname */
      "buffer", /* void *optval */
      "buffer", /* socklen_t *optlen */
    ],
    result: "i32",
  },
  /** int shutdown(int fd, int how) — wakes a thread blocked in accept() or recv() on it. */
  shutdown: { parameters: ["i32", /* int fd */ "i32" /* int how */], result: "i32" },
  /** int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags), on a helper thread. */
  accept4: {
    parameters: ["i32", /* int fd */ "pointer", /* NULL */ "pointer", /* NULL */ "i32" /* flags */],
    result: "i32",
    nonblocking: true,
  },
  /** ssize_t recv(int fd, void *buf, size_t len, int flags), on a helper thread. */
  recv: {
    parameters: ["i32", /* int fd */ "buffer", /* void *buf */ "usize", /* size_t */ "i32"],
    result: "isize",
    nonblocking: true,
  },
  /** ssize_t send(int fd, const void *buf, size_t len, int flags), on a helper thread. */
  send: {
    parameters: ["i32", /* int fd */ "buffer", /* const void *buf */ "usize", /* size_t */ "i32"],
    result: "isize",
    nonblocking: true,
  },
} as const satisfies Deno.ForeignLibraryInterface;

/**
 * TCP sockets in a node's namespace (net/tcp.ts: BGP sessions): opened with socket() on the main
 * thread inside setns, then nonblocking calls on the main thread; waiting is a poll() on a helper
 * thread (LIBC_POLL_SYMBOLS). Their own lazy dlopen, on first use.
 */
export const LIBC_TCP_SYMBOLS = {
  /** int connect(int fd, const struct sockaddr *addr, socklen_t len) */
  connect: {
    parameters: ["i32", /* int fd */ "buffer", /* const struct sockaddr * */ "u32" /* socklen_t */],
    result: "i32",
  },
  /** int listen(int fd, int backlog) */
  listen: { parameters: ["i32", /* int fd */ "i32" /* int backlog */], result: "i32" },
  /** int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) */
  accept4: {
    parameters: [
      "i32",
      /* int fd */ "buffer",
      /* struct sockaddr * */ "buffer",
      /* socklen_t * */ "i32",
    ],
    result: "i32",
  },
  /** int getsockopt(int fd, int level, int name, void *value, socklen_t *len) */
  getsockopt: {
    parameters: [
      "i32",
      /* int fd */ "i32",
      /* int level */ "i32",
      /* int optname */ "buffer",
      /* void * */ "buffer", /* socklen_t * */
    ],
    result: "i32",
  },
  /** int getpeername(int fd, struct sockaddr *addr, socklen_t *len) */
  getpeername: {
    parameters: ["i32", /* int fd */ "buffer", /* struct sockaddr * */ "buffer" /* socklen_t * */],
    result: "i32",
  },
  /** ssize_t send(int fd, const void *buf, size_t len, int flags) */
  send: {
    parameters: ["i32", /* int fd */ "buffer", /* const void *buf */ "usize", /* size_t */ "i32"],
    result: "isize",
  },
  /** ssize_t read(int fd, void *buf, size_t count): drains the poll loop's eventfd. */
  read: {
    parameters: ["i32", /* int fd */ "buffer", /* void *buf */ "usize" /* size_t count */],
    result: "isize",
  },
} as const satisfies Deno.ForeignLibraryInterface;

/**
 * A userspace packet loop (the udp backend's worker, net/packet_io.ts): its own lazy dlopen, loaded
 * on the worker's thread, so errno and the blocking poll() belong to that thread. poll() blocks
 * the calling thread: call it only off the daemon's main thread.
 */
export const LIBC_PACKET_SYMBOLS = {
  /** int poll(struct pollfd *fds, nfds_t nfds, int timeout), blocking the calling thread. */
  poll: {
    parameters: ["pointer", /* struct pollfd *fds */ "u64", /* nfds_t */ "i32" /* int timeout */],
    result: "i32",
  },
  /** ssize_t read(int fd, void *buf, size_t count) */
  read: {
    parameters: ["i32", /* int fd */ "pointer", /* void *buf */ "usize" /* size_t count */],
    result: "isize",
  },
  /** ssize_t write(int fd, const void *buf, size_t count) */
  write: {
    parameters: ["i32", /* int fd */ "buffer", /* const void *buf */ "usize" /* size_t count */],
    result: "isize",
  },
  /** ssize_t readv(int fd, const struct iovec *iov, int iovcnt) */
  readv: {
    parameters: [
      "i32",
      /* int fd */ "pointer",
      /* const struct iovec *iov */ "i32", /* int iovcnt */
    ],
    result: "isize",
  },
  /** ssize_t writev(int fd, const struct iovec *iov, int iovcnt) */
  writev: {
    parameters: [
      "i32",
      /* int fd */ "pointer",
      /* const struct iovec *iov */ "i32", /* int iovcnt */
    ],
    result: "isize",
  },
  /** int recvmmsg(int fd, struct mmsghdr *vec, unsigned vlen, int flags, struct timespec *timeout) */
  recvmmsg: {
    parameters: [
      "i32", /* int fd */
      "pointer", /* struct mmsghdr *msgvec */
      "u32", /* unsigned int vlen */
      "i32", /* int flags */
      "pointer", /* struct timespec *timeout (NULL) */
    ],
    result: "i32",
  },
  /** int setsockopt(int fd, int level, int name, const void *value, socklen_t len) */
  setsockopt: {
    parameters: ["i32", /* int fd */ "i32", /* level */ "i32", /* name */ "buffer", "u32"],
    result: "i32",
  },
  /** int sendmmsg(int fd, struct mmsghdr *vec, unsigned vlen, int flags) */
  sendmmsg: {
    parameters: [
      "i32", /* int fd */
      "pointer", /* struct mmsghdr *msgvec */
      "u32", /* unsigned int vlen */
      "i32", /* int flags */
    ],
    result: "i32",
  },
  /** int *__errno_location(void) */
  __errno_location: { parameters: [], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

/**
 * inotify (net/inotify.ts: the daemon's and the file store's directory watches): its own lazy
 * dlopen, since the CNI plugin never calls these. The descriptor is nonblocking: read() (from
 * LIBC_POLL_SYMBOLS) runs on the main thread, waiting is the shared poll loop's.
 */
export const LIBC_INOTIFY_SYMBOLS = {
  /** int inotify_init1(int flags) */
  inotify_init1: { parameters: ["i32" /* int flags */], result: "i32" },
  /** int inotify_add_watch(int fd, const char *pathname, uint32_t mask) */
  inotify_add_watch: {
    parameters: [
      "i32",
      /* int fd */ "buffer",
      /* const char *pathname */ "u32", /* uint32_t mask */
    ],
    result: "i32",
  },
  /** int inotify_rm_watch(int fd, int wd) */
  inotify_rm_watch: { parameters: ["i32", /* int fd */ "i32" /* int wd */], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** Constants for the calls above (Linux x86_64/aarch64 values). */
export const AF_NETLINK = 16;
export const SOCK_RAW = 3;
export const AF_INET = 2;
export const SOCK_DGRAM = 2;
export const SOCK_CLOEXEC = 0o2000000;
export const SOCK_NONBLOCK = 0o4000;
export const EFD_CLOEXEC = 0o2000000;
export const MFD_CLOEXEC = 1;
export const EFD_NONBLOCK = 0o4000;
export const POLLIN = 0x1;
export const POLLOUT = 0x4;
export const POLLERR = 0x8;
export const SOL_SOCKET = 1;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_RCVTIMEO = 20;
export const SO_SNDTIMEO = 21;
export const SO_PEERCRED = 17;
export const AF_UNIX = 1;
export const SOCK_STREAM = 1;
export const SHUT_RDWR = 2;
export const MSG_NOSIGNAL = 0x4000;
export const SO_SNDBUFFORCE = 32;
export const SO_RCVBUFFORCE = 33;
export const MSG_PEEK = 0x2;
export const MSG_TRUNC = 0x20;
export const MSG_DONTWAIT = 0x40;
export const AF_INET6 = 10;
export const IPPROTO_TCP = 6;
export const TCP_MD5SIG = 14;
export const SO_REUSEADDR = 2;
export const SO_ERROR = 4;
export const IPV6_V6ONLY = 26;
export const IPPROTO_IPV6 = 41;
export const EINPROGRESS = 115;
export const O_RDONLY = 0;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_CLOEXEC = 0o2000000;
export const CLONE_NEWNET = 0x40000000;
export const MS_BIND = 0x1000;
export const MS_REC = 0x4000;
export const MS_SHARED = 1 << 20;
export const MS_PRIVATE = 1 << 18;
export const MNT_DETACH = 2;
export const EINTR = 4;
export const EINVAL = 22;
export const EAGAIN = 11;
export const ENOBUFS = 105;
export const IN_NONBLOCK = 0o4000;
export const IN_CLOEXEC = 0o2000000;

/**
 * Device ioctls (`ethtool -k`: SIOCETHTOOL on a datagram socket): their own lazy dlopen, only
 * diagnostics call them.
 */
export const LIBC_IOCTL_SYMBOLS = {
  /** int ioctl(int fd, unsigned long request, void *arg) — variadic in C; skein passes a pointer. */
  ioctl: {
    parameters: ["i32", /* int fd */ "u64", /* unsigned long */ "buffer" /* void * */],
    result: "i32",
  },
  /** The same ioctl() with an integer argument (TUNSETOFFLOAD takes its flags by value). */
  ioctlValue: {
    name: "ioctl",
    parameters: ["i32", /* int fd */ "u64", /* unsigned long */ "u64" /* unsigned long arg */],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;

/**
 * Calls that run on a helper thread and return a Promise (FFI `nonblocking`): the JS thread
 * goes on while the kernel works. errno is not readable for these (it belongs to the helper
 * thread); callers redo a failed call synchronously to learn it.
 */
export const LIBC_ASYNC_SYMBOLS = {
  /** sendto() as above, on a helper thread. */
  sendto: { ...LIBC_SYMBOLS.sendto, nonblocking: true },
} as const satisfies Deno.ForeignLibraryInterface;

type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];
type LibcAsync = Deno.DynamicLibrary<typeof LIBC_ASYNC_SYMBOLS>["symbols"];
type LibcPoll = Deno.DynamicLibrary<typeof LIBC_POLL_SYMBOLS>["symbols"];
type LibcNsAdmin = Deno.DynamicLibrary<typeof LIBC_NS_ADMIN_SYMBOLS>["symbols"];
type LibcIoctl = Deno.DynamicLibrary<typeof LIBC_IOCTL_SYMBOLS>["symbols"];

/**
 * Linux system call numbers of LIBC_SYMBOLS' functions (`asm/unistd_64.h`, and
 * `asm-generic/unistd.h` for aarch64); `open` is openat(AT_FDCWD, ...), `recv` recvfrom(...,
 * NULL, NULL), as glibc implements them.
 */
export const SYSCALL_NUMBERS: Readonly<Record<string, Readonly<Record<string, number>>>> = {
  x86_64: {
    socket: 41,
    bind: 49,
    getsockname: 51,
    setsockopt: 54,
    sendto: 44,
    recvfrom: 45,
    setns: 308,
    openat: 257,
    close: 3,
    getpriority: 140,
    setpriority: 141,
    memfd_create: 319,
  },
  aarch64: {
    socket: 198,
    bind: 200,
    getsockname: 204,
    setsockopt: 208,
    sendto: 206,
    recvfrom: 207,
    setns: 268,
    openat: 56,
    close: 57,
    setpriority: 140,
    getpriority: 141,
    memfd_create: 279,
  },
};

/**
 * LIBC_SYMBOLS through glibc's syscall(): two bound symbols instead of twelve. Deno compiles a
 * call trampoline for every bound symbol (~0.15 ms each), which a CNI plugin process pays on
 * every call: binding LIBC_SYMBOLS costs ~2 ms, these two ~0.3 ms.
 */
const SYSCALL_SYMBOLS = {
  /** long syscall(long number, ...): always given six arguments (the kernel takes six). */
  syscall: { parameters: ["i64", "i64", "i64", "i64", "i64", "i64", "i64"], result: "i64" },
  /** int *__errno_location(void) */
  __errno_location: LIBC_SYMBOLS.__errno_location,
} as const satisfies Deno.ForeignLibraryInterface;

const AT_FDCWD = -100;

/** A buffer's address for syscall() (0 for null); its memory stays where it is. */
function addr(b: AllowSharedBufferSource | null): bigint {
  return b === null
    ? 0n
    : BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(b as BufferSource)));
}

/** LIBC_SYMBOLS' functions as system calls with the same arguments, results and errno. */
function viaSyscall(nr: Readonly<Record<string, number>>): Libc {
  const s = Deno.dlopen("libc.so.6", SYSCALL_SYMBOLS).symbols;
  /** syscall(n, ...args) with the unused arguments 0: the raw (long) result. */
  const sys = (n: number, ...args: (number | bigint)[]): bigint => {
    const a = args.map(BigInt);
    while (a.length < 6) a.push(0n);
    return BigInt(s.syscall(BigInt(n), a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!));
  };
  const int = (n: number, ...args: (number | bigint)[]) => Number(sys(n, ...args));
  return {
    socket: (domain, type, protocol) => int(nr.socket!, domain, type, protocol),
    bind: (fd, sa, len) => int(nr.bind!, fd, addr(sa), len),
    getsockname: (fd, sa, len) => int(nr.getsockname!, fd, addr(sa), addr(len)),
    setsockopt: (fd, level, name, value, len) =>
      int(nr.setsockopt!, fd, level, name, addr(value), len),
    sendto: (fd, buf, len, flags, to, tolen) =>
      sys(nr.sendto!, fd, addr(buf), len, flags, addr(to), tolen),
    recv: (fd, buf, len, flags) => sys(nr.recvfrom!, fd, addr(buf), len, flags),
    setns: (fd, nstype) => int(nr.setns!, fd, nstype),
    open: (path, flags, mode) => int(nr.openat!, AT_FDCWD, addr(path), flags, mode),
    close: (fd) => int(nr.close!, fd),
    // The system call answers 20 - nice (1..40, so that no success looks like an error); the
    // libc function turns it back into the nice value.
    getpriority: (which, who) => {
      const r = int(nr.getpriority!, which, who);
      return r === -1 ? -1 : 20 - r;
    },
    setpriority: (which, who, prio) => int(nr.setpriority!, which, who, prio),
    memfd_create: (name, flags) => int(nr.memfd_create!, addr(name), flags),
    __errno_location: () => s.__errno_location(),
  };
}

let lib: Libc | undefined;
let errnoView: Deno.UnsafePointerView | undefined;

/**
 * The libc symbols (dlopen("libc.so.6") on first use): on Linux x86_64 and aarch64 through
 * syscall() (viaSyscall), elsewhere each bound itself.
 */
export function libc(): Libc {
  if (!lib) {
    const nr = Deno.build.os === "linux" ? SYSCALL_NUMBERS[Deno.build.arch] : undefined;
    lib = nr ? viaSyscall(nr) : Deno.dlopen("libc.so.6", LIBC_SYMBOLS).symbols;
    const p = lib.__errno_location();
    if (!p) throw new Error("Cannot load libc: __errno_location() returned NULL");
    // errno's address is per thread; every call here runs on the main thread.
    errnoView = new Deno.UnsafePointerView(p);
  }
  return lib;
}

let libAsync: LibcAsync | undefined;

/** The helper-thread variants (a second small dlopen, on first use). */
export function libcAsync(): LibcAsync {
  libAsync ??= Deno.dlopen("libc.so.6", LIBC_ASYNC_SYMBOLS).symbols;
  return libAsync;
}

let libPoll: LibcPoll | undefined;

/** poll (helper thread), eventfd, write and read (their own dlopen, on first use). */
export function libcPoll(): LibcPoll {
  libc(); // errno() must be ready before a failing call
  libPoll ??= Deno.dlopen("libc.so.6", LIBC_POLL_SYMBOLS).symbols;
  return libPoll;
}

type LibcUnixServer = Deno.DynamicLibrary<typeof LIBC_UNIX_SERVER_SYMBOLS>["symbols"];
let libUnixServer: LibcUnixServer | undefined;

/** listen/getsockopt/shutdown and the helper-thread accept4/recv/send (own dlopen, on first use). */
export function libcUnixServer(): LibcUnixServer {
  libc(); // errno() must be ready before a failing call
  libUnixServer ??= Deno.dlopen("libc.so.6", LIBC_UNIX_SERVER_SYMBOLS).symbols;
  return libUnixServer;
}

type LibcTcp = Deno.DynamicLibrary<typeof LIBC_TCP_SYMBOLS>["symbols"];
let libTcp: LibcTcp | undefined;

/** connect/listen/accept4/getsockopt/getpeername/send for TCP (own dlopen, on first use). */
export function libcTcp(): LibcTcp {
  libc(); // errno() must be ready before a failing call
  libTcp ??= Deno.dlopen("libc.so.6", LIBC_TCP_SYMBOLS).symbols;
  return libTcp;
}

type LibcInotify = Deno.DynamicLibrary<typeof LIBC_INOTIFY_SYMBOLS>["symbols"];
let libInotify: LibcInotify | undefined;

/** inotify_init1/inotify_add_watch/inotify_rm_watch (own dlopen, on first use). */
export function libcInotify(): LibcInotify {
  libc(); // errno() must be ready before a failing call
  libInotify ??= Deno.dlopen("libc.so.6", LIBC_INOTIFY_SYMBOLS).symbols;
  return libInotify;
}

let libNsAdmin: LibcNsAdmin | undefined;

/** unshare/mount/umount2 (their own dlopen, on first use). Read errno() after a failure. */
export function libcNsAdmin(): LibcNsAdmin {
  libc(); // errno() must be ready before a failing call: loading it later could clobber errno
  libNsAdmin ??= Deno.dlopen("libc.so.6", LIBC_NS_ADMIN_SYMBOLS).symbols;
  return libNsAdmin;
}

let libIoctl: LibcIoctl | undefined;

/** ioctl (its own dlopen, on first use). Read errno() after a failure. */
export function libcIoctl(): LibcIoctl {
  libc(); // errno() must be ready before a failing call
  libIoctl ??= Deno.dlopen("libc.so.6", LIBC_IOCTL_SYMBOLS).symbols;
  return libIoctl;
}

/** errno of the main thread. Read it right after the failing call. */
export function errno(): number {
  libc();
  return errnoView!.getInt32();
}

const enc = new TextEncoder();

/** A NUL-terminated copy of `s` for char* parameters. */
export function cstr(s: string): Uint8Array<ArrayBuffer> {
  const b = enc.encode(s);
  const out = new Uint8Array(b.length + 1);
  out.set(b);
  return out;
}
